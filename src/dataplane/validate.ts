// Semantic rules for a Dataplane, checked before the control plane is
// contacted (agent) and before a resource is stored (mini-CP). Each error
// names the field, as Kuma's validators do.
import { isIP } from 'node:net';
import type { FieldError } from '../util/errors.js';
import { SERVICE_TAG, type Dataplane } from './types.js';

const MESH_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RESOURCE_NAME = /^[0-9a-z.\-_]+$/;
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;
const TAG_KEY = /^[a-zA-Z0-9.\-_:/]+$/;
const TAG_VALUE = /^[a-zA-Z0-9.\-_:/]+$/;

export const DEFAULT_ADMIN_PORT = 9901;

export function validateMeshName(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value !== 'string' || value === '') errors.push({ field, message: 'is required' });
  else if (value.length > 63 || !MESH_NAME.test(value)) {
    errors.push({ field, message: `'${value}' is not a valid mesh name: lower-case letters, digits and '-', at most 63 characters` });
  }
}

export function validateResourceName(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value !== 'string' || value === '') errors.push({ field, message: 'is required' });
  else if (value.length > 253 || !RESOURCE_NAME.test(value)) {
    errors.push({ field, message: `'${value}' is not a valid name: lower-case letters, digits, '.', '-' and '_', at most 253 characters` });
  }
}

/** A value for a message: no String(), which throws on an object without a prototype. */
const show = (value: unknown): string => (typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value));

function isAddress(value: string): boolean {
  return isIP(value) !== 0 || HOSTNAME.test(value);
}

function checkPort(value: unknown, field: string, errors: FieldError[], required: boolean): void {
  if (value === undefined) {
    if (required) errors.push({ field, message: 'is required' });
    return;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    errors.push({ field, message: `must be a port in the range 1-65535, got ${JSON.stringify(value)}` });
  }
}

function checkAddress(value: unknown, field: string, errors: FieldError[]): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !isAddress(value)) {
    errors.push({ field, message: `'${show(value)}' is not an IP address or hostname` });
  }
}

function checkTags(tags: Record<string, string> | undefined, field: string, errors: FieldError[], needService: boolean): void {
  if (!tags || Object.keys(tags).length === 0) {
    if (needService) errors.push({ field, message: `must contain at least the '${SERVICE_TAG}' tag` });
    return;
  }
  for (const [key, value] of Object.entries(tags)) {
    if (!TAG_KEY.test(key)) errors.push({ field: `${field}["${key}"]`, message: 'tag name has characters outside [a-zA-Z0-9.-_:/]' });
    if (typeof value !== 'string' || !TAG_VALUE.test(value)) {
      errors.push({ field: `${field}["${key}"]`, message: `tag value '${show(value)}' must be non-empty and use only [a-zA-Z0-9.-_:/]` });
    }
  }
  if (needService && !tags[SERVICE_TAG]) errors.push({ field: `${field}["${SERVICE_TAG}"]`, message: 'tag is required' });
}

/** All semantic errors of a Dataplane (an empty list when it is valid). */
export function validateDataplane(dp: Dataplane): FieldError[] {
  const errors: FieldError[] = [];
  if (dp.type !== 'Dataplane') errors.push({ field: 'type', message: `must be 'Dataplane', got ${JSON.stringify(dp.type)}` });
  validateMeshName(dp.mesh, 'mesh', errors);
  validateResourceName(dp.name, 'name', errors);

  const net = dp.networking;
  if (!net) {
    errors.push({ field: 'networking', message: 'is required' });
    return errors;
  }
  if (!net.address) {
    errors.push({ field: 'networking.address', message: 'is required' });
  } else if (net.address === '0.0.0.0' || net.address === '::') {
    errors.push({ field: 'networking.address', message: `must be the address other dataplanes reach this one on, not the wildcard ${net.address}` });
  } else {
    checkAddress(net.address, 'networking.address', errors);
  }
  checkAddress(net.advertisedAddress, 'networking.advertisedAddress', errors);

  const inbound = net.inbound ?? [];
  const outbound = net.outbound ?? [];
  if (inbound.length === 0 && !net.gateway) {
    errors.push({ field: 'networking', message: 'has to contain at least one inbound interface or gateway' });
  }

  // Every port Envoy binds, to report clashes with the field that claimed it first.
  const bound = new Map<number, string>();
  const claim = (port: number | undefined, field: string): void => {
    if (typeof port !== 'number') return;
    const first = bound.get(port);
    if (first) errors.push({ field, message: `port ${port} is already used by ${first}` });
    else bound.set(port, field);
  };

  inbound.forEach((ib, i) => {
    const at = `networking.inbound[${i}]`;
    checkPort(ib.port, `${at}.port`, errors, true);
    checkPort(ib.servicePort, `${at}.servicePort`, errors, false);
    checkAddress(ib.address, `${at}.address`, errors);
    checkAddress(ib.serviceAddress, `${at}.serviceAddress`, errors);
    checkTags(ib.tags, `${at}.tags`, errors, true);
    const listenAddress = ib.address ?? net.address;
    const serviceAddress = ib.serviceAddress ?? '127.0.0.1';
    if (ib.servicePort === ib.port && listenAddress === serviceAddress) {
      errors.push({ field: `${at}.servicePort`, message: 'must differ from port when the service listens on the same address as the inbound' });
    }
    claim(ib.port, `${at}.port`);
  });

  outbound.forEach((ob, i) => {
    const at = `networking.outbound[${i}]`;
    checkPort(ob.port, `${at}.port`, errors, true);
    checkAddress(ob.address, `${at}.address`, errors);
    const hasTags = ob.tags !== undefined && Object.keys(ob.tags).length > 0;
    if (hasTags && ob.backendRef) {
      errors.push({ field: at, message: 'set either tags or backendRef, not both' });
    } else if (ob.backendRef) {
      const ref = ob.backendRef;
      if (ref.kind !== undefined && ref.kind !== 'MeshService')
        errors.push({ field: `${at}.backendRef.kind`, message: `must be MeshService, got '${ref.kind}'` });
      validateResourceName(ref.name, `${at}.backendRef.name`, errors);
      checkPort(ref.port, `${at}.backendRef.port`, errors, true);
    } else {
      if (!hasTags) errors.push({ field: at, message: `needs tags with '${SERVICE_TAG}' or a backendRef` });
      else checkTags(ob.tags, `${at}.tags`, errors, true);
    }
    claim(ob.port, `${at}.port`);
  });

  if (net.admin?.port !== undefined) {
    checkPort(net.admin.port, 'networking.admin.port', errors, false);
    claim(net.admin.port, 'networking.admin.port');
  } else if (bound.has(DEFAULT_ADMIN_PORT)) {
    errors.push({
      field: bound.get(DEFAULT_ADMIN_PORT)!,
      message: `port ${DEFAULT_ADMIN_PORT} is Envoy's admin port; pick another or set networking.admin.port`,
    });
  }
  return errors;
}
