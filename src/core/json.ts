/**
 * @module core/json
 * Narrowing parsed JSON: the one guard every request-body and manifest parser uses.
 */

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
