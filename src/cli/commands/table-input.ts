/**
 * Reads a data file for `train --data`, `eval --data` and `fit` into a `Table`: the readers of
 * src/io/table-read.ts (CSV, Parquet, GeoJSON) with errors as `CliError`s naming the file.
 */
import * as fs from 'node:fs';
import { CliError } from '../args.js';
import { TableError, type Table } from '../../data/table.js';
import { readTable } from '../../io/table-read.js';

export async function readDataTable(file: string, cmd: string, what: string): Promise<Table> {
  if (!fs.existsSync(file)) throw new CliError(`${cmd}: ${what} '${file}' does not exist`);
  try {
    return await readTable(file, { label: what });
  } catch (e) {
    if (e instanceof TableError) throw new CliError(`${cmd}: ${e.message}`);
    throw e;
  }
}
