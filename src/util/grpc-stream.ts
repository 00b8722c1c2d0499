// The end of a gRPC server stream, however it comes (the peer's half-close,
// an error, a cancellation, the transport closing), for the xDS and KDS servers.
import type { ServerDuplexStream } from '@grpc/grpc-js';

/** Runs `gone` once the stream is over (it may run more than once); a stream the peer ended is ended here too. */
export function whenStreamGone(call: ServerDuplexStream<unknown, unknown>, gone: () => void): void {
  call.on('end', () => {
    gone();
    call.end();
  });
  call.on('error', gone);
  call.on('cancelled', gone);
  call.on('close', gone);
}
