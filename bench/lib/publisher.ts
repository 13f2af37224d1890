import { Agent, request } from 'node:http';

export interface PublishAnswer {
  status: number;
  body: string;
}

/** POSTs JSON to one server over a few keep-alive connections, as an admin. */
export class Publisher {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly token: string,
    maxSockets = 8,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  post(body: unknown, path = this.path): Promise<PublishAnswer> {
    const payload = JSON.stringify(body);
    return this.send('POST', path, payload);
  }

  get(path: string): Promise<PublishAnswer> {
    return this.send('GET', path);
  }

  send(method: string, path: string, payload?: string): Promise<PublishAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method,
          agent: this.agent,
          headers: {
            Authorization: `Bearer ${this.token}`,
            ...(payload !== undefined
              ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
