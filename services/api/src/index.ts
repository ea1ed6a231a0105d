export { buildApp, type BuildAppOptions } from './app.ts';
export { API_VERSION } from './plugins/openapi.ts';
export { redactUrl } from './redact.ts';
export { loadConfig, defaultConfig, ConfigError, type Config } from './config.ts';
export { HttpProblem, mapError, sendProblem } from './errors.ts';
