export { createHttpValidator, type HttpValidatorOptions } from './http-validator.js';
export { redactUrl } from './redact-url.js';
