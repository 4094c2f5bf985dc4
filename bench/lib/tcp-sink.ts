/**
 * @module bench/lib/tcp-sink
 * The receiving end of the loopback TCP measurement, run as its own Node process so sender and
 * receiver each have an event loop (as a client and a registry do). Prints its port, counts the
 * bytes of one connection, and answers `k` once it has the number given as argv[2].
 */
import { createServer } from 'node:net';

const expected = Number(process.argv[2]);
const server = createServer((socket) => {
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received >= expected) {
      socket.end('k');
      server.close();
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.stdout.write(`${address.port}\n`);
});
