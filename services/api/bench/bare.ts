/** Baseline for the API benchmark: a bare Fastify route returning a constant JSON. */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const payload = { id: '00000000-0000-4000-8000-000000000000', state: 'submitted', version: 1 };
app.get('/bare', async () => payload);
const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
console.log(`listening on ${address}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
