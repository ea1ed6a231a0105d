export { buildApp, redactUrl, API_VERSION, type BuildAppOptions } from './app.ts';
export { loadConfig, defaultConfig, ConfigError, type Config } from './config.ts';
export { HttpProblem, mapError, sendProblem } from './errors.ts';
