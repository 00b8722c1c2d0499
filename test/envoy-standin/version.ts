import { EXPECTED_ENVOY_VERSION } from '../../src/envoy/binary.js';

// What `--version` and /server_info report. The build SHA is a fixed made-up
// value; ENVOY_STANDIN_VERSION lets a test pose as another Envoy release.
const BUILD_SHA = '5e5f1c2b8a3d4e6f7081920a3b4c5d6e7f809a1b';
// The release the agent is built against, so kuma-dp sees a compatible Envoy.
const DEFAULT_VERSION = EXPECTED_ENVOY_VERSION;

export function versionNumber(): string {
  return process.env.ENVOY_STANDIN_VERSION || DEFAULT_VERSION;
}

/** revision/version/status/build-type/ssl, the shape Envoy reports. */
export function buildVersion(): string {
  return `${BUILD_SHA}/${versionNumber()}/Clean/RELEASE/BoringSSL`;
}

/** Exactly what Envoy's command-line parser prints for --version (a blank line, the line, a blank line). */
export function versionBanner(): string {
  return `\nenvoy  version: ${buildVersion()}\n\n`;
}
