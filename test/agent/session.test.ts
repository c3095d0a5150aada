/**
 * The agent's session with the control plane, through the dialler the Agent takes in its
 * options: here the real mutual-TLS WebSocket dialler, counted, against the real agent endpoint.
 */
import t from 'tap';
import { wsDialler } from '../../agent/session.js';
import { newAgent, startRig, until } from './rig.js';

t.test('agent session', async (t) => {
  t.test('a link on which the server stays silent is dropped after deadAfterMs and dialled again', async (t) => {
    // The endpoint pings once a minute: after the first snapshot the link is silent.
    const rig = await startRig(t, { heartbeatMs: 60_000 });
    const urls: string[] = [];
    // Listening before the agent starts: on a busy machine the first link can already be dropped
    // (400 ms after the snapshot) before a listener added after newAgent's first snapshot would run.
    const a = await newAgent(t, rig, 'pi-quiet', {
      start: false,
      agent: {
        deadAfterMs: 400,
        dial: (target, events) => {
          urls.push(target.url);
          return wsDialler(target, events);
        },
      },
    });
    const codes: number[] = [];
    a.agent.on('disconnected', (code) => codes.push(code));
    a.agent.start();
    await until(() => urls.length >= 2 && a.agent.connected, 15_000);
    t.equal(codes[0], 1006, 'the silent link was ended without a closing handshake');
    t.match(urls[0], /^wss:\/\/127\.0\.0\.1:\d+\/agent\/v1$/, 'dialled the agent endpoint over TLS');
    t.equal(urls[1], urls[0], 'and dialled it again');
  });
});
