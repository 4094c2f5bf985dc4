/**
 * @module management/api-versions
 * ARM refuses requests without an api-version, and registries accept only the versions the
 * resource provider knows. These are the versions current tools send (az CLI, SDKs, Terraform).
 */
import { ArmError } from './arm-errors.js';

export const REGISTRY_API_VERSIONS = [
  '2017-10-01',
  '2019-05-01',
  '2019-06-01-preview',
  '2019-11-01',
  '2019-12-01-preview',
  '2020-11-01-preview',
  '2021-04-01',
  '2021-06-01-preview',
  '2021-08-01-preview',
  '2021-09-01',
  '2021-12-01-preview',
  '2022-02-01-preview',
  '2022-12-01',
  '2023-01-01-preview',
  '2023-06-01-preview',
  '2023-07-01',
  '2023-08-01-preview',
  '2023-11-01-preview',
  '2024-11-01-preview',
  '2025-03-01-preview',
  '2025-04-01',
  '2025-05-01-preview',
  '2025-11-01',
];

export const AUTHORIZATION_API_VERSIONS = [
  '2015-07-01',
  '2018-01-01-preview',
  '2018-09-01-preview',
  '2020-04-01-preview',
  '2020-10-01-preview',
  '2022-04-01',
];

export function requireApiVersion(query: URLSearchParams): string {
  const version = query.get('api-version');
  if (!version) {
    throw new ArmError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
  return version;
}

export function checkApiVersion(version: string, supported: readonly string[], type: string): void {
  if (!supported.includes(version)) {
    throw new ArmError(
      400,
      'NoRegisteredProviderFound',
      `No registered resource provider found for API version '${version}' and type '${type}'. The supported api-versions are '${supported.join(', ')}'.`,
    );
  }
}
