/**
 * Progress of a training run on the command line (train, train --data, fit): a JSON start line,
 * a progress bar (src/api/progress.ts; JSON lines off a terminal), validation lines, and the kept
 * model refreshed in OUT after every checkpoint.
 */
import { Progress } from '../../api/progress.js';
import type { TrainEvent } from '../../train/trainer.js';
import type { OutputStream } from '../args.js';

export interface TrainProgress {
  onEvent: (e: TrainEvent) => void;
  /** The kept state ('last' or 'best'), set once the trainer exists. */
  keep: 'last' | 'best';
}

/** `label`: progress label and event prefix; `onCheckpoint` refreshes OUT's model. */
export function trainProgress(sink: OutputStream, out: string, label: string, onCheckpoint: () => void): TrainProgress {
  let progress: Progress | null = null;
  let lastLoss: number | null = null;
  const state: TrainProgress = {
    keep: 'last',
    onEvent: (e) => {
      switch (e.type) {
        case 'start':
          sink.write(`${JSON.stringify({ event: `${label}_start`, step: e.step, steps: e.steps, parameters: e.parameters, backend: e.backend, resumed: e.resumed, out })}\n`);
          progress = new Progress({ total: e.steps, sink, label, start: e.step, unit: 'step' });
          break;
        case 'loss':
          lastLoss = e.loss;
          progress?.update(e.step, { loss: e.loss, lr: e.lr });
          break;
        case 'validation':
          if (sink.isTTY) sink.write('\n');
          sink.write(`${JSON.stringify({ event: 'validation', step: e.step, ...e.metrics, best: e.best })}\n`);
          break;
        case 'skipped':
          // Steps whose loss or gradient was not finite: skipped, the weights unchanged.
          if (sink.isTTY) sink.write('\n');
          sink.write(`${JSON.stringify({ event: 'skipped_steps', step: e.step, skipped: e.skipped, total: e.total })}\n`);
          break;
        case 'checkpoint':
          onCheckpoint();
          break;
        case 'done':
          progress?.finish(lastLoss === null ? {} : { loss: lastLoss });
          break;
      }
    },
  };
  return state;
}
