// A Director replica in a child process of its own (its own event loop and worker pool, as replicas
// run on their own machines), for the figure of replicas: started by startReplicaProcess with the
// options as JSON in argv, it prints its URL, answers 'cpu' with its process CPU time (all its
// threads), and closes on 'close' or when the parent goes away (IPC channel closed).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBenchDirector, type BenchDirectorOptions } from './bench-director.js';

type ToReplica = { readonly cmd: 'cpu' } | { readonly cmd: 'close' };
type FromReplica = { readonly url: string } | { readonly cpuMs: number } | { readonly closed: true } | { readonly fatal: string };

export interface ReplicaProcess {
  readonly url: string;
  /** CPU time (user + system, every thread) the replica's process used since it started, ms. */
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

/** Starts one replica in a child process and waits until it listens. */
export function startReplicaProcess(options: BenchDirectorOptions): Promise<ReplicaProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T extends FromReplica>(match: (m: FromReplica) => m is T): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: FromReplica) => {
        if ('fatal' in m) done(() => reject(new Error(`Director replica failed: ${m.fatal}`)));
        else if (match(m)) done(() => resolve(m));
      };
      const onExit = (code: number | null) => done(() => reject(new Error(`Director replica exited (${code ?? 'signal'})`)));
      const done = (then: () => void) => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        then();
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  return next((m): m is { url: string } => 'url' in m).then(({ url }) => ({
    url,
    async cpuMs() {
      const answer = next((m): m is { cpuMs: number } => 'cpuMs' in m);
      child.send({ cmd: 'cpu' } satisfies ToReplica);
      return (await answer).cpuMs;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ cmd: 'close' } satisfies ToReplica);
      // A replica that does not close within 15 s is killed: the run must end.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  }));
}

async function runReplica(options: BenchDirectorOptions): Promise<void> {
  const send = (m: FromReplica) => process.send!(m);
  const director = await startBenchDirector(options);
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await director.close();
    process.exit(0);
  };
  process.on('message', (m: ToReplica) => {
    if (m.cmd === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ cpuMs: (user + system) / 1000 });
    } else void close();
  });
  process.on('disconnect', () => void close());
  send({ url: director.url });
}

// Run as the child: fork passes the options as the one argument, and an IPC channel.
if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  runReplica(JSON.parse(process.argv[2]!) as BenchDirectorOptions).catch((err: unknown) => {
    process.send!({ fatal: (err as Error).stack ?? String(err) } satisfies FromReplica);
    process.exit(1);
  });
}
