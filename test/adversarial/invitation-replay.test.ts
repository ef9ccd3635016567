import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { countingProxy, startInboxCoordinator, type InboxCoordinator } from './inbox-coordinator.js';

/**
 * An invitation is acted on once per node, also across a restart of the node: whoever
 * carried it (the relay, a squatter on the coordinator's inbox) can't make the node join a
 * ceremony it already joined, and spend the caller's credential, policy budget and work a
 * second time. The node's seen-set is in its database, so a restart forgets nothing.
 *
 * Node-2 is told to join each ceremony on a relay reached through a counting proxy: every
 * node process that acts on an invitation opens one connection through it (its relay pool
 * keeps it), so a connection is the mark of an invitation acted on.
 */
describe('a replayed invitation is refused, also after the node restarts', { timeout: 120_000 }, () => {
  let h: InboxCoordinator;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;

  before(async () => {
    // In front of the one relay, and on node-2's list of trusted relays: the coordinator
    // joins each ceremony on the relay directly, node-2 through the proxy.
    h = await startInboxCoordinator(async (relayPort) => {
      proxy = await countingProxy(relayPort);
      return { TANDEM_TRUSTED_RELAYS: proxy.address };
    });
  });
  after(async () => {
    await h?.close();
    await proxy?.close();
  });

  const signOp = () => ({ type: 'frost-sign', family: 'bip340', key_id: randomUUID(), msgs: ['00'], path: [], extra_data: '' });
  /** node-2's answer to an invitation: it refuses one for a key it doesn't hold. */
  const answer = (s: Awaited<ReturnType<InboxCoordinator['open']>>) => s.expect(h.target, 'commit', 8000);

  test('accepted once; the same bytes again are refused before and after a restart; a new invitation still works', async () => {
    const s1 = await h.open();
    const frame = await h.invite(s1, signOp(), h.userEvidence, proxy.address);
    await assert.rejects(answer(s1), /refused \(key_id_not_exists\)/, 'node-2 acted on the invitation');
    assert.equal(proxy.connections(), 1, 'node-2 joined the ceremony through the proxy');

    await h.replay(frame);
    await delay(1000);
    assert.equal(proxy.connections(), 1, 'the same process refuses a replay');

    await h.restart();
    const before = h.logs.length;
    await h.replay(frame);
    await delay(1500);
    assert.equal(proxy.connections(), 1, 'the restarted node did not act on an invitation it had accepted before');
    assert.ok(h.logs.slice(before).some((l) => /replayed invitation/.test(l)), `node-2 says why: ${h.logs.slice(before).join(' | ')}`);

    // The refusal is this one invitation's, not a node that stopped listening.
    const s2 = await h.open();
    await h.invite(s2, signOp(), h.userEvidence, proxy.address);
    await assert.rejects(answer(s2), /refused \(key_id_not_exists\)/);
    assert.equal(proxy.connections(), 2);
    s1.close();
    s2.close();
  });
});
