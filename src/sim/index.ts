/** Public surface of the provider simulator; everything else in src/sim is internal. */
export {
  ProviderSimulator,
  type ProviderSimulatorOptions,
  type PlaceInboundCallOptions,
  type SimRecording,
  type RecordingFilter,
} from './ProviderSimulator.js';
export type { SimCall, DtmfEvent } from './SimCall.js';
export type { CallReport, CallSummary, EndedBy } from './CallReport.js';
export type { SimCodec } from './codecs.js';
export { runSimCommand, parseSimArgs, SIM_USAGE } from './cli.js';
