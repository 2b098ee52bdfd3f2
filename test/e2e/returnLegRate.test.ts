/**
 * The gateway's audio back to the phone, on a wideband codec, through the
 * whole path: the platform declares the return leg's rate
 * (stream_bidirectional_sampling_rate) and the simulator plays it at that rate,
 * as Telnyx does. Without it the provider assumes 8 kHz and a 16 kHz L16 leg
 * comes out at half speed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NUMBER, withStack } from '../helpers/stack.js';

for (const codec of ['L16', 'G722', 'OPUS'] as const) {
  test(`${codec}: the caller hears the agent at the right speed (the return leg's rate is declared)`, async () => {
    await withStack({ codec }, {}, async (stack) => {
      const call = stack.sim.placeInboundCall({ from: '+15550404001', to: NUMBER, durationMs: 1_500, codec });
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason);
      assert.ok(report.framesReturned >= report.framesSent - 2, `${report.framesReturned} frames back of ${report.framesSent}`);
      // The simulator's audio is 8 kHz: as many samples back as sent, not twice as many.
      assert.ok(report.returnedPcm.length <= report.sentPcm.length + 4 * 160, `${report.returnedPcm.length} samples back for ${report.sentPcm.length} sent`);
      // Opus is coded twice on the way (phone to gateway, gateway to phone) and keeps the waveform only roughly (0.72 measured).
      const floor = codec === 'OPUS' ? 0.6 : 0.9;
      assert.ok(report.echo.correlation >= floor, `echo correlation ${report.echo.correlation}`);
    });
  });
}
