import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TrustedRelays, trustedRelaysFrom, UNTRUSTED_RELAY_MESSAGE } from '../../../src/node/trusted-relays.js';

/** Which relays a node connects to: a caller or a coordinator must not pick another. */
describe('TrustedRelays', () => {
  const trusted = new TrustedRelays(['relay-1.internal:7000', 'Relay-2.Internal:7000', '10.0.0.3:7000', '[::1]:7000']);

  test('an address is trusted as written, the host case-insensitively', () => {
    assert.equal(trusted.has('relay-1.internal:7000'), true);
    assert.equal(trusted.has('RELAY-1.INTERNAL:7000'), true);
    assert.equal(trusted.has('relay-2.internal:7000'), true);
    assert.equal(trusted.has('10.0.0.3:7000'), true);
    assert.equal(trusted.has('[::1]:7000'), true);
  });

  test('another port, another host, a name for a trusted IP or a near miss is not trusted', () => {
    for (const other of ['relay-1.internal:7001', 'relay-3.internal:7000', 'relay-1.internal', 'relay-1.internal:7000 ', 'relay-1.internal.:7000', '10.0.0.3:07000', '127.0.0.1:7000', '[0:0:0:0:0:0:0:1]:7000', '']) {
      assert.equal(trusted.has(other), false, JSON.stringify(other));
    }
    assert.equal(new TrustedRelays([]).has('relay-1.internal:7000'), false, 'an empty list trusts nothing');
  });

  test('the refusal is one fixed text that names no address', () => {
    assert.equal(UNTRUSTED_RELAY_MESSAGE, 'relay_address is not a relay this node trusts');
  });
});

describe('TANDEM_TRUSTED_RELAYS', () => {
  test('comma-separated host:port, spaces and empty entries dropped; unset is none', () => {
    assert.deepEqual(trustedRelaysFrom(undefined), []);
    assert.deepEqual(trustedRelaysFrom(''), []);
    assert.deepEqual(trustedRelaysFrom(' a.internal:7000 ,, b.internal:7001 '), ['a.internal:7000', 'b.internal:7001']);
  });

  test('a malformed entry stops the start, naming the variable and the entry', () => {
    const cases: Array<[string, string]> = [
      ['a.internal', 'expected host:port'],
      ['a.internal:0', 'port must be 1..65535'],
      ['a.internal:65536', 'port must be 1..65535'],
      ['a.internal:http', 'port must be 1..65535'],
      ['a_b.internal:7000', 'invalid host'],
      ['999.1.1.1:7000', 'invalid host'],
      ['[not-v6]:7000', 'invalid IPv6 address'],
      ['ws://a.internal:7000', 'invalid host'],
    ];
    for (const [entry, why] of cases) {
      assert.throws(() => trustedRelaysFrom(`ok.internal:7000,${entry}`), { message: `TANDEM_TRUSTED_RELAYS: invalid relay address ${JSON.stringify(entry)}: ${why}` }, entry);
    }
  });
});
