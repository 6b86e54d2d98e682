// A throwaway Azurite (the Azure Storage emulator, blob service only) for the
// tests: node_modules/.bin/azurite-blob, run with this Node.js, on a free loopback port,
// keeping its data in memory, run from a temporary directory (its working
// directory, removed on stop).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/paths.js";
import { stopProcess } from "./process.js";

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteServer {
  /** The blob endpoint of the dev account: http://127.0.0.1:PORT/devstoreaccount1 */
  accountUrl: string;
  connectionString: string;
  accountName: string;
  accountKey: string;
  stop(): Promise<void>;
}

/** Starts Azurite's blob service; resolves once it listens. stop() kills it and removes its directory. */
export async function startAzurite(timeoutMs = 30_000): Promise<AzuriteServer> {
  const dir = mkdtempSync(join(tmpdir(), "wft-azurite-"));
  // --blobPort 0: the OS picks a free port and Azurite prints it (no race with a probed port).
  // --inMemoryPersistence cannot be combined with --location; the working directory is the temporary one.
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "node_modules", ".bin", "azurite-blob"),
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      "0",
      "--inMemoryPersistence",
      "--extentMemoryLimit",
      "1024",
      "--silent",
      "--skipApiVersionCheck",
      "--loose",
      "--disableTelemetry",
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  const stop = async () => {
    await stopProcess(child, "SIGTERM", 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`azurite did not listen within ${timeoutMs} ms:\n${log}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        log = (log + chunk.toString()).slice(-4000);
        const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`azurite exited with code ${code}:\n${log}`));
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const accountUrl = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    accountUrl,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${accountUrl};`,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    stop,
  };
}
