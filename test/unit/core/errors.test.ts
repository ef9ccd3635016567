import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BAD_REQUEST_TYPES, ERR_TYPES, isErrType, statusOf, TandemError } from '../../../src/core/errors.js';

/** The error contract: `{ err_type, err_msg }`, the type decides the status. */
describe('API errors', () => {
  test('every bad-request type is 400; access_denied 401, not_found 404, internal_problem 500', () => {
    for (const t of BAD_REQUEST_TYPES) assert.equal(statusOf(t), 400, t);
    assert.equal(statusOf('access_denied'), 401);
    assert.equal(statusOf('not_found'), 404);
    assert.equal(statusOf('internal_problem'), 500);
    assert.equal(new Set(ERR_TYPES).size, ERR_TYPES.length, 'no type listed twice');
  });

  test('isErrType knows exactly the listed types', () => {
    for (const t of ERR_TYPES) assert.equal(isErrType(t), true, t);
    for (const t of ['', 'Access_Denied', 'bad_request', 'toString', '__proto__']) assert.equal(isErrType(t), false, t);
  });

  test('a TandemError carries its type, status, body and rule id', () => {
    const e = new TandemError('policy_validation_failed', 'rule "x" refused', 'rule-1');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'TandemError');
    assert.equal(e.status, 400);
    assert.equal(e.ruleId, 'rule-1');
    assert.deepEqual(e.toBody(), { err_type: 'policy_validation_failed', err_msg: 'rule "x" refused' });
    assert.deepEqual(Object.keys(e.toBody()), ['err_type', 'err_msg'], 'the body has nothing else, not the rule id');
    assert.equal(new TandemError('access_denied', 'no').status, 401);
    assert.equal(new TandemError('internal_problem', 'x').ruleId, undefined);
  });
});
