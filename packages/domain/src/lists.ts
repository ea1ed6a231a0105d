/**
 * Lists that spell out a union type (for runtime checks, messages, schemas) are checked at
 * compile time to name every member: `everyMemberOf<Step>()([...])` does not compile when
 * a member is missing (the argument's type becomes `never`), nor when an entry is not one.
 */
export function everyMemberOf<T>() {
  return <const L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : never)): L => list;
}
