/**
 * The error contract of seed 000: every API error is `{ err_type, err_msg }` with one of
 * these types, and the type decides the HTTP status.
 */
export const BAD_REQUEST_TYPES = [
  'already_performed_keygen',
  'bad_n_and_t_params',
  'bad_request_params',
  'batch_too_large',
  'executor_result',
  'key_id_not_exists',
  'key_operation_before_keygen',
  'policy_in_use_by_keys',
  'policy_in_use_by_users',
  'policy_not_found',
  'policy_validation_failed',
  'room_creation_problem',
  'rule_in_use',
  'rule_not_found',
  'rule_not_in_policy',
  'unique_violation',
  'user_id_not_exists',
  'you_have_to_be_admin',
] as const;

export const ERR_TYPES = [...BAD_REQUEST_TYPES, 'access_denied', 'not_found', 'internal_problem'] as const;
export type ErrType = (typeof ERR_TYPES)[number];

export function isErrType(s: string): s is ErrType {
  return (ERR_TYPES as readonly string[]).includes(s);
}

export function statusOf(type: ErrType): 400 | 401 | 404 | 500 {
  switch (type) {
    case 'access_denied':
      return 401;
    case 'not_found':
      return 404;
    case 'internal_problem':
      return 500;
    default:
      return 400;
  }
}

/** An error meant for the API caller: its message must never contain secrets. */
export class TandemError extends Error {
  constructor(
    readonly type: ErrType,
    message: string,
    /** For policy_validation_failed: the rule that refused (its id travels to a coordinator; its text does not). */
    readonly ruleId?: string,
  ) {
    super(message);
    this.name = 'TandemError';
  }

  get status(): number {
    return statusOf(this.type);
  }

  toBody(): { err_type: ErrType; err_msg: string } {
    return { err_type: this.type, err_msg: this.message };
  }
}
