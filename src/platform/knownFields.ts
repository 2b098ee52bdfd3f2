/**
 * Operator bodies take only the fields they apply. A field the platform would drop or keep unread
 * (`{"caps":{"dayminutes":0}}`, `"recording": false` on a mint) was answered 200 while the cap or
 * the recording stayed as it was: the operator was told it worked. Refusing it fails closed.
 */
import { ErrorCodes, TtmaError } from '../errors.js';

/** The first own key of `value` outside `allowed` (`__proto__` from JSON.parse included), or undefined. */
export function unknownField(value: object, allowed: readonly string[]): string | undefined {
  return Object.keys(value).find((key) => !allowed.includes(key));
}

/** The reason to refuse a field outside `allowed`, named with its path (`caps.dayminutes`), or null. */
export function unknownFieldProblem(value: object, allowed: readonly string[], prefix = ''): string | null {
  const extra = unknownField(value, allowed);
  return extra === undefined ? null : `unknown field "${prefix}${extra.slice(0, 40)}": takes ${allowed.join(', ')}`;
}

/** Throws 400 TTMA_ERR_BAD_REQUEST for a field outside `allowed`; `hint` says where the others go. */
export function refuseUnknownFields(value: object, allowed: readonly string[], prefix = '', hint = ''): void {
  const problem = unknownFieldProblem(value, allowed, prefix);
  if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, hint ? `${problem} (${hint})` : problem, 400);
}
