import { Type, type Static } from 'typebox';
import { RoleSchema } from './schemas.ts';

/** A user of the desk, as `GET /users` lists them (who may be assigned claims, who acted). */
export const UserSchema = Type.Object(
  {
    id: Type.String({ description: 'User id: what `assign.assignee` names and events record as the actor' }),
    name: Type.Union([Type.String(), Type.Null()], { description: 'Display name (null when none was given)' }),
    role: RoleSchema,
    active: Type.Boolean({ description: 'False for a disabled user: their tokens no longer work and they cannot be assigned' }),
  },
  { additionalProperties: true, title: 'User' },
);

export const UserListSchema = Type.Object(
  { items: Type.Array(UserSchema, { description: 'Every user, by id' }) },
  { additionalProperties: true, title: 'UserList' },
);

export type User = Static<typeof UserSchema>;
export type UserList = Static<typeof UserListSchema>;
