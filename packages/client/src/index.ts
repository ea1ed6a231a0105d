export { ClaimtrailClient, createClient, type ClientOptions, type FetchLike, type StepSegment } from './http.ts';
export { ProblemError, problemFromResponse, type Problem } from './errors.ts';
export { laterConsistencyToken, type RetryInfo, type RetryOptions } from './resilience.ts';
export {
  LiveConnection,
  type LiveHandlers,
  type LiveOptions,
  type LiveStatus,
  type LiveSubscribeSpec,
  type LiveSubscription,
  type WebSocketConstructor,
  type WebSocketLike,
} from './live.ts';
export * from './protocol.ts';
export * from './types.ts';
