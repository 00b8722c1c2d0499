// Entry point of the process started by startValidator (validator-process.ts): loads
// Envoy's types at once, then validates the one document it is sent over IPC
// and exits, so every byte it used goes back to the system.
import { loadEnvoyTypes } from './envoy-types.js';

const types = loadEnvoyTypes();
process.once('message', async ({ json, typeName }: { json: unknown; typeName: string }) => {
  const issues = (await types).validate(json, typeName);
  process.send!(issues, () => process.disconnect());
});
