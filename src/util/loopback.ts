/** Whether an address (as a socket reports it, IPv4-mapped forms included) is loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || /^127\./.test(plain);
}

/**
 * Spread into node:http request options for plain HTTP to a local host named
 * `localhost` (a Unix socket's Host). Node's Agent would guess a TLS server
 * name from the host first: net.isIP('localhost') compiles Node's IPv6
 * pattern on first use, ~4 ms of a short command's start. Plain HTTP sends
 * no server name, so an empty one changes nothing on the wire.
 */
export const NO_SERVER_NAME_GUESS = { servername: '' } as const;
