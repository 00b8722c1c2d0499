// Route selection as Envoy's router does it: the virtual host by the Host
// (or :authority) header, then the first route whose match (prefix, path,
// safe_regex, path_separated_prefix, headers) fits the request.
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMatcher, HeaderMutations, HeaderValueOption, RouteConfiguration, RouteMatch, StringMatcher, VirtualHost } from './envoy-config.js';

function stringMatch(m: StringMatcher | undefined, value: string | undefined): boolean {
  if (!m) return true;
  if (value === undefined) return false;
  const ci = m.ignore_case === true;
  const v = ci ? value.toLowerCase() : value;
  const p = (x: unknown): string => (ci ? String(x).toLowerCase() : String(x));
  if (m.exact !== undefined) return v === p(m.exact);
  if (m.prefix !== undefined) return v.startsWith(p(m.prefix));
  if (m.suffix !== undefined) return v.endsWith(p(m.suffix));
  if (m.contains !== undefined) return v.includes(p(m.contains));
  if (m.safe_regex?.regex !== undefined) return new RegExp(`^(?:${m.safe_regex.regex})$`).test(value);
  return false;
}

function headerMatches(matcher: HeaderMatcher, headers: IncomingHttpHeaders): boolean {
  const raw = headers[String(matcher.name).toLowerCase()];
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  let ok: boolean;
  if (matcher.present_match !== undefined) ok = (value !== undefined) === matcher.present_match;
  else if (matcher.exact_match !== undefined) ok = value === matcher.exact_match;
  else if (matcher.prefix_match !== undefined) ok = value !== undefined && value.startsWith(matcher.prefix_match);
  else if (matcher.suffix_match !== undefined) ok = value !== undefined && value.endsWith(matcher.suffix_match);
  else if (matcher.string_match) ok = stringMatch(matcher.string_match, value);
  else ok = value !== undefined;
  return matcher.invert_match ? !ok : ok;
}

export function routeMatches(match: RouteMatch, path: string, headers: IncomingHttpHeaders): boolean {
  const caseSensitive = match.case_sensitive !== false;
  const pathOnly = path.split('?')[0]!;
  const norm = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  let ok: boolean;
  if (match.prefix !== undefined) ok = norm(path).startsWith(norm(match.prefix));
  else if (match.path !== undefined) ok = norm(pathOnly) === norm(match.path);
  else if (match.safe_regex?.regex !== undefined) ok = new RegExp(`^(?:${match.safe_regex.regex})$`, caseSensitive ? '' : 'i').test(pathOnly);
  else if (match.path_separated_prefix !== undefined) {
    const p = String(match.path_separated_prefix);
    ok = norm(pathOnly) === norm(p) || norm(pathOnly).startsWith(norm(p) + '/');
  } else ok = false;
  return ok && (match.headers ?? []).every((h) => headerMatches(h, headers));
}

function domainMatches(domain: string, host: string): boolean {
  const d = domain.toLowerCase();
  if (d === '*') return true;
  if (d.startsWith('*')) return host.endsWith(d.slice(1));
  if (d.endsWith('*')) return host.startsWith(d.slice(0, -1));
  return host === d;
}

/** Envoy's search order: exact domain, then suffix wildcards, then prefix wildcards, then '*'. */
export function findVirtualHost(routeConfig: RouteConfiguration | undefined, hostHeader: string): VirtualHost | undefined {
  const vhosts = routeConfig?.virtual_hosts ?? [];
  const host = hostHeader.toLowerCase();
  const hostNoPort = host.replace(/:\d+$/, '');
  for (const h of host === hostNoPort ? [host] : [host, hostNoPort]) {
    const exact = vhosts.find((v) => (v.domains ?? []).some((d) => !d.includes('*') && d.toLowerCase() === h));
    if (exact) return exact;
    const suffix = vhosts.find((v) => (v.domains ?? []).some((d) => d.startsWith('*') && d !== '*' && domainMatches(d, h)));
    if (suffix) return suffix;
    const prefix = vhosts.find((v) => (v.domains ?? []).some((d) => d.endsWith('*') && d !== '*' && domainMatches(d, h)));
    if (prefix) return prefix;
  }
  return vhosts.find((v) => (v.domains ?? []).includes('*'));
}

type Headers = Record<string, string | string[]>;

/** Applies HeaderValueOption lists (`request_headers_to_add` etc.) with Envoy's append semantics. */
function addHeaders(headers: Headers, options: HeaderValueOption[] | undefined): void {
  for (const option of options ?? []) {
    const key = String(option.header?.key ?? '').toLowerCase();
    const value = String(option.header?.value ?? '');
    if (!key) continue;
    const action = option.append_action ?? (option.append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    const existing = headers[key];
    if (action === 'ADD_IF_ABSENT') {
      if (existing === undefined) headers[key] = value;
    } else if (action === 'OVERWRITE_IF_EXISTS') {
      if (existing !== undefined) headers[key] = value;
    } else if (action === 'OVERWRITE_IF_EXISTS_OR_ADD' || existing === undefined) headers[key] = value;
    else headers[key] = [...(Array.isArray(existing) ? existing : [existing]), value];
  }
}

/** Header changes asked for at each level (route, virtual host, route configuration), in the order given. */
export function applyHeaderMutations(headers: Headers, direction: 'request' | 'response', levels: Array<HeaderMutations | undefined>): void {
  for (const level of levels) {
    for (const name of level?.[`${direction}_headers_to_remove` as const] ?? []) delete headers[String(name).toLowerCase()];
    addHeaders(headers, level?.[`${direction}_headers_to_add` as const]);
  }
}
