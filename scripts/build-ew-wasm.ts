/**
 * Builds the CPU backend's SIMD elementwise kernels (src/engine/cpu/wasm/ew-wasm.ts) from the
 * WebAssembly text written below, with wabt's parser (no C toolchain needed). The module imports
 * the heap's shared `env.memory` and keeps no stack or static data, so it sits next to the matmul
 * and BSA modules on the same memory and runs on the thread pool (kernels take tid, start, end).
 *
 *   npx tsx scripts/build-ew-wasm.ts [--check]
 *
 * Kernels (element ranges [start, end), byte pointers):
 * - ew_unary(op, x, o): o = op(x); op 0 relu, 1 neg, 2 abs, 3 square, 4 sqrt, 5 recip.
 * - ew_binary(op, a, sa, b, sb, o): o = a op b, sa/sb 1 = contiguous, 0 = the operand's first element
 *   broadcast; op 0 add, 1 sub, 2 mul, 3 div, 4 gt, 5 ge, 6 lt, 7 le, 8 eq, 9 ne, 10 max, 11 min.
 * - bias_rows(o, bias, n, relu) over rows: o[r, :] += bias, then relu when relu ≠ 0.
 * Every op gives the float32 result the JS loops give (float64 arithmetic rounded to float32 is the
 * correctly rounded float32 result for + − × ÷ √; max/min keep the JS NaN and signed-zero rules).
 */
import { embedLines, writeOrCheck } from './wasm-embed.js';

const addr = (base: string, i = '$i') => `(i32.add (local.get ${base}) (i32.shl (local.get ${i}) (i32.const 2)))`;

/** A loop over [$s, $e) computing `vexpr` (v128, operands $va, $vb) into $o; scalar tail via lane 0. */
function loop(loadA: (vec: boolean) => string, loadB: ((vec: boolean) => string) | null, vexpr: string): string {
  const body = (vec: boolean) => `
      (local.set $va ${loadA(vec)})${loadB ? `
      (local.set $vb ${loadB(vec)})` : ''}
      ${vec ? `(v128.store ${addr('$o')} ${vexpr})` : `(v128.store32_lane 0 ${addr('$o')} ${vexpr})`}`;
  return `
    (local.set $i (local.get $s))
    (block $vd (loop $vl
      (br_if $vd (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $e)))${body(true)}
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vl)))
    (block $td (loop $tl
      (br_if $td (i32.ge_s (local.get $i) (local.get $e)))${body(false)}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tl)))`;
}

const ONE = '(v128.const f32x4 1 1 1 1)';
const ZERO = '(v128.const f32x4 0 0 0 0)';
const A = '(local.get $va)';
const B = '(local.get $vb)';
const mask01 = (m: string) => `(v128.and ${m} ${ONE})`;

const UNARY: string[] = [
  `(f32x4.pmax ${ZERO} ${A})`, // relu: 0 < x ? x : 0 (NaN → 0, as the JS loop)
  `(f32x4.neg ${A})`,
  `(f32x4.abs ${A})`,
  `(f32x4.mul ${A} ${A})`,
  `(f32x4.sqrt ${A})`,
  `(f32x4.div ${ONE} ${A})`,
];

const BINARY: string[] = [
  `(f32x4.add ${A} ${B})`,
  `(f32x4.sub ${A} ${B})`,
  `(f32x4.mul ${A} ${B})`,
  `(f32x4.div ${A} ${B})`,
  mask01(`(f32x4.gt ${A} ${B})`),
  mask01(`(f32x4.ge ${A} ${B})`),
  mask01(`(f32x4.lt ${A} ${B})`),
  mask01(`(f32x4.le ${A} ${B})`),
  mask01(`(f32x4.eq ${A} ${B})`),
  mask01(`(f32x4.ne ${A} ${B})`),
  // max: a >= b or a is NaN ? a : b; min: a <= b or a is NaN ? a : b.
  `(v128.bitselect ${A} ${B} (v128.or (f32x4.ge ${A} ${B}) (f32x4.ne ${A} ${A})))`,
  `(v128.bitselect ${A} ${B} (v128.or (f32x4.le ${A} ${B}) (f32x4.ne ${A} ${A})))`,
];

function dispatch(name: string, params: string, count: number, call: (k: number) => string): string {
  const blocks = Array.from({ length: count }, (_, k) => `$c${k}`);
  let inner = `(br_table ${blocks.join(' ')} $out (local.get $op))`;
  for (let k = 0; k < count; k++) inner = `(block $c${k} ${inner})\n      ${call(k)} (br $out)`;
  return `
  (func (export "${name}") ${params}
    (block $out
      ${inner})
  )`;
}

function build(): string {
  const ld = (p: string) => (vec: boolean) => (vec ? `(v128.load ${addr(p)})` : `(v128.load32_splat ${addr(p)})`);
  const ldStrided = (p: string, st: string) => (vec: boolean) =>
    `(if (result v128) (local.get ${st}) (then ${ld(p)(vec)}) (else (v128.load32_splat (local.get ${p}))))`;
  const fns: string[] = [];
  UNARY.forEach((ex, k) => fns.push(`
  (func $u${k} (param $x i32) (param $o i32) (param $s i32) (param $e i32)
    (local $i i32) (local $va v128)${loop(ld('$x'), null, ex)})`));
  BINARY.forEach((ex, k) => fns.push(`
  (func $b${k} (param $a i32) (param $sa i32) (param $b i32) (param $sb i32) (param $o i32) (param $s i32) (param $e i32)
    (local $i i32) (local $va v128) (local $vb v128)${loop(ldStrided('$a', '$sa'), ldStrided('$b', '$sb'), ex)})`));
  fns.push(dispatch('ew_unary', '(param $op i32) (param $x i32) (param $o i32) (param $tid i32) (param $s i32) (param $e i32)', UNARY.length,
    (k) => `(call $u${k} (local.get $x) (local.get $o) (local.get $s) (local.get $e))`));
  fns.push(dispatch('ew_binary',
    '(param $op i32) (param $a i32) (param $sa i32) (param $b i32) (param $sb i32) (param $o i32) (param $tid i32) (param $s i32) (param $e i32)',
    BINARY.length,
    (k) => `(call $b${k} (local.get $a) (local.get $sa) (local.get $b) (local.get $sb) (local.get $o) (local.get $s) (local.get $e))`));
  // bias_rows: rows [s, e) of o [rows, n] get + bias (and relu).
  fns.push(`
  (func (export "bias_rows") (param $o i32) (param $bias i32) (param $n i32) (param $relu i32) (param $tid i32) (param $s i32) (param $e i32)
    (local $r i32) (local $row i32) (local $c i32) (local $v v128)
    (local.set $r (local.get $s))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_s (local.get $r) (local.get $e)))
      (local.set $row (i32.add (local.get $o) (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.gt_s (i32.add (local.get $c) (i32.const 4)) (local.get $n)))
        (local.set $v (f32x4.add (v128.load ${addr('$row', '$c')}) (v128.load ${addr('$bias', '$c')})))
        (if (local.get $relu) (then (local.set $v (f32x4.pmax ${ZERO} (local.get $v)))))
        (v128.store ${addr('$row', '$c')} (local.get $v))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $vl)))
      (block $td (loop $tl
        (br_if $td (i32.ge_s (local.get $c) (local.get $n)))
        (local.set $v (f32x4.add (v128.load32_splat ${addr('$row', '$c')}) (v128.load32_splat ${addr('$bias', '$c')})))
        (if (local.get $relu) (then (local.set $v (f32x4.pmax ${ZERO} (local.get $v)))))
        (v128.store32_lane 0 ${addr('$row', '$c')} (local.get $v))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl)))
  )`);
  return `(module
  (import "env" "memory" (memory 2 65536 shared))${fns.join('\n')}
)
`;
}

const wat = build();
const wabt = await (await import('wabt')).default();
const mod = wabt.parseWat('ew.wat', wat, { simd: true, threads: true });
mod.validate({ simd: true, threads: true });
const { buffer } = mod.toBinary({});
mod.destroy();
const text = [
  '// Generated by scripts/build-ew-wasm.ts (WebAssembly text in that script). Do not edit.',
  '',
  ...embedLines('EW_WASM_SHARED', `${buffer.length} bytes of wasm (memory import: shared).`, buffer),
].join('\n');
writeOrCheck('src/engine/cpu/wasm/ew-wasm.ts', text, 'build-ew-wasm', 'npx tsx scripts/build-ew-wasm.ts');
