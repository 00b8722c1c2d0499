// A TCP log collector for tests: a net server that keeps every line it gets.
import { createServer, type Server, type Socket } from 'node:net';

export interface TcpSink {
  port: number;
  address: string;
  lines: string[];
  /** Raw bytes received, in order. */
  bytes(): Buffer;
  connections: number;
  close(): Promise<void>;
}

export async function startTcpSink(port = 0, options: { read?: boolean } = {}): Promise<TcpSink> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  let text = '';
  const sink: TcpSink = {
    port: 0,
    address: '',
    lines: [],
    bytes: () => Buffer.concat(chunks),
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    sink.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // A collector that never reads: its receive buffer fills and the sender's bytes pile up.
    if (options.read === false) {
      socket.pause();
      return;
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      text += chunk.toString('utf8');
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        sink.lines.push(text.slice(0, nl));
        text = text.slice(nl + 1);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  sink.port = (server.address() as { port: number }).port;
  sink.address = `127.0.0.1:${sink.port}`;
  return sink;
}
