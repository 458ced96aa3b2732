/**
 * The floor for bench/http.ts: a plain node:http server that reads the JSON
 * body and answers 200 with a JSON body of the same shape, and nothing else
 * (no validation, no store, no log). Run beside ours in the same run, it shows
 * what the machine itself allows at that moment. Prints `ncr-upload API on <port>`.
 */
import { createServer } from 'node:http';

const port = Number(process.env.API_PORT ?? 8001);
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { job_id: string };
    const text = JSON.stringify({ task_id: `task-${job.job_id}`, job_id: job.job_id, status: 'queued' });
    response.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    response.end(text);
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`ncr-upload API on 127.0.0.1:${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
