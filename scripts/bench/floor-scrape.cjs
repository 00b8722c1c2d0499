// Reference program for bench:components: the least a Node program can do to
// serve a /meshmetric scrape. On each GET it fetches Envoy's stats over the
// admin socket, finds each line of the answer (as any profile filter must) and
// streams it back; no profiles, labels, applications, DNS or supervision. Its
// RSS while scraped is the floor the agent's is compared with.
//   node floor-scrape.cjs <envoy-admin-socket> <listen-socket>
'use strict';
const { createServer, get } = require('node:http');

const [adminSocket, listenSocket] = process.argv.slice(2);

createServer((req, res) => {
  get({ socketPath: adminSocket, path: '/stats?format=prometheus&text_readouts=&usedonly=' }, (answer) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    // Streamed through piece by piece: the answer is never held whole.
    let lines = 0;
    answer.on('data', (piece) => {
      for (let at = piece.indexOf(10); at >= 0; at = piece.indexOf(10, at + 1)) lines++;
      res.write(piece);
    });
    answer.on('end', () => res.end(`# ${lines} lines\n`));
  }).on('error', (err) => res.writeHead(502).end(err.message));
}).listen(listenSocket, () => process.stdout.write('ready\n'));
