export * from './schemas.ts';
export * from './errors.ts';
export * from './steps.ts';
export * from './users.ts';
export * from './integrations.ts';
export * from './desk.ts';
