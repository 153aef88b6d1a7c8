/**
 * Structured logging for the daemon: one line per event, logfmt by default
 * (`2026-11-21T10:00:00.000Z info listening addr=127.0.0.1:7117`) or JSON lines.
 * Callers pass fields, never secrets; values are quoted when they contain spaces.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(opts: { level?: LogLevel; format?: 'logfmt' | 'json'; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const format = opts.format ?? 'logfmt';
  return {
    log(level, event, fields = {}) {
      if (ORDER[level] < min) return;
      const ts = new Date().toISOString();
      if (format === 'json') {
        write(JSON.stringify({ ts, level, event, ...fields }));
        return;
      }
      let line = `${ts} ${level} ${event}`;
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        const s = typeof v === 'string' ? v : JSON.stringify(v);
        line += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
      }
      write(line);
    },
  };
}
