/**
 * Structured logging for wotrelay-directory: one line per event on stderr (journald adds
 * its own timestamps, but lines carry `ts` so they also read well elsewhere), in logfmt
 * (`ts=… level=info msg=listening addr=127.0.0.1:7118`) or JSON. Never pass secrets here.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'logfmt' | 'json';
export type LogValue = string | number | boolean | undefined;
export type LogFields = Record<string, LogValue>;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function logfmtValue(v: string | number | boolean): string {
  const s = String(v);
  if (s !== '' && /^[^\s"=\\\x00-\x1f\x7f]+$/.test(s)) return s;
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/[\x00-\x1f\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

export class Logger {
  private readonly min: number;

  constructor(
    readonly format: LogFormat,
    readonly level: LogLevel,
    private readonly write: (line: string) => void = (line) => void process.stderr.write(line),
  ) {
    this.min = ORDER[level];
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= this.min;
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (ORDER[level] < this.min) return;
    const ts = new Date().toISOString();
    if (this.format === 'json') {
      const o: Record<string, string | number | boolean> = { ts, level, msg };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in o)) o[k] = v;
      this.write(`${JSON.stringify(o)}\n`);
      return;
    }
    let line = `ts=${ts} level=${level} msg=${logfmtValue(msg)}`;
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${logfmtValue(v)}`;
    this.write(`${line}\n`);
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
}
