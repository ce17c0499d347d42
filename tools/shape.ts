/**
 * The codebase's shape, measured (`npm run shape [-- --list] [-- --json] [-- --root DIR]`): source files over 400
 * lines, functions over 80 lines, raw SQL statements outside the named query modules, `as unknown as` casts and
 * the `any` type. Reads the files git tracks (`*.ts`, `*.mjs`, `*.js`) with the TypeScript parser; source means
 * everything outside `test/` and `node_modules/`, and test files are counted on their own line.
 *
 * Definitions (kept stable so figures compare across commits):
 * - file lines: newline count of the file (as `wc -l`);
 * - function lines: first to last line of a function declaration, method, accessor, constructor, function
 *   expression or arrow function with a block body (nested functions are counted on their own too);
 * - raw SQL statement: a string or template literal whose text starts with a SQL statement keyword (select …
 *   from, insert into, update … set, delete from, with … as, create/alter/drop, truncate, vacuum, analyze,
 *   lock table); allowed only in `domain/queries/` and `db/migrations/`;
 * - `as unknown as`: an `as T` applied to an `as unknown` expression; `any`: the `any` type keyword.
 *
 * Exit code 0 always: this prints figures, it judges nothing (the rules are enforced by lint and the import check).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const FILE_LIMIT = 400;
const FUNCTION_LIMIT = 80;
const SQL_HOMES = ['domain/queries/', 'db/migrations/'];

const SQL_START =
  /^\s*(select\s[\s\S]*\bfrom\b|select\s+[\w$(][^:]*$|insert\s+into\s|update\s+[\w."]+\s+(as\s+\w+\s+)?set\s|delete\s+from\s|with\s+(recursive\s+)?\w+\s*(\([^)]*\)\s*)?as\s*(not\s+)?(materialized\s+)?\(|create\s+(unique\s+)?(table|index|extension|type|view|schema|database|or\s+replace)\b|alter\s+(table|index|type|database|system)\s|drop\s+(table|index|type|view|schema|database|extension)\b|truncate\s|vacuum\s*\(|lock\s+table\s)/;

interface Finding {
  file: string;
  line: number;
  what: string;
}

interface Shape {
  files: Finding[];
  functions: Finding[];
  sql: Finding[];
  unknownCasts: Finding[];
  anys: Finding[];
  testUnknownCasts: Finding[];
  testAnys: Finding[];
  sourceFiles: number;
  sourceLines: number;
}

function trackedFiles(root: string): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.mts', '*.mjs', '*.js'], { cwd: root });
  return out
    .toString('utf8')
    .split('\0')
    .filter((f) => f && !f.startsWith('node_modules/') && !f.endsWith('.d.ts'));
}

function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => ` $x ${s.literal.text}`).join('');
  return undefined;
}

function functionName(node: ts.Node): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  if (named.name && (ts.isStringLiteral(named.name) || ts.isPrivateIdentifier(named.name))) return named.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isCallExpression(parent)) {
    const callee = parent.expression.getText().slice(0, 40);
    return `<callback of ${callee}>`;
  }
  return '<anonymous>';
}

function isFunctionLike(node: ts.Node): boolean {
  if (ts.isArrowFunction(node)) return ts.isBlock(node.body);
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** Measures the tree at `root` (a git checkout). */
export function measure(root: string): Shape {
  const shape: Shape = {
    files: [],
    functions: [],
    sql: [],
    unknownCasts: [],
    anys: [],
    testUnknownCasts: [],
    testAnys: [],
    sourceFiles: 0,
    sourceLines: 0,
  };
  for (const file of trackedFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const isTest = file.startsWith('test/');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (!isTest) {
      shape.sourceFiles += 1;
      shape.sourceLines += lines;
      if (lines > FILE_LIMIT) shape.files.push({ file, line: 1, what: `${lines} lines` });
    }
    const kind = file.endsWith('.ts') || file.endsWith('.mts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
    const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
    const lineOf = (pos: number) => src.getLineAndCharacterOfPosition(pos).line + 1;
    const sqlAllowed = SQL_HOMES.some((home) => file.startsWith(home));
    const visit = (node: ts.Node): void => {
      if (!isTest && isFunctionLike(node)) {
        const first = lineOf(node.getStart(src));
        const last = lineOf(node.getEnd());
        const length = last - first + 1;
        if (length > FUNCTION_LIMIT) shape.functions.push({ file, line: first, what: `${functionName(node)} ${length} lines` });
      }
      if (!isTest && !sqlAllowed) {
        const literal = literalText(node);
        if (literal !== undefined && SQL_START.test(literal)) {
          shape.sql.push({ file, line: lineOf(node.getStart(src)), what: literal.trim().split(/\s+/).slice(0, 6).join(' ') });
        }
      }
      if (ts.isAsExpression(node) && ts.isAsExpression(skipParens(node.expression))) {
        const inner = skipParens(node.expression) as ts.AsExpression;
        if (inner.type.kind === ts.SyntaxKind.UnknownKeyword) {
          (isTest ? shape.testUnknownCasts : shape.unknownCasts).push({ file, line: lineOf(node.getStart(src)), what: node.getText(src).slice(0, 80) });
        }
      }
      if (node.kind === ts.SyntaxKind.AnyKeyword) {
        (isTest ? shape.testAnys : shape.anys).push({ file, line: lineOf(node.getStart(src)), what: node.parent.getText(src).slice(0, 80) });
      }
      ts.forEachChild(node, visit);
    };
    visit(src);
  }
  return shape;
}

function skipParens(node: ts.Expression): ts.Expression {
  return ts.isParenthesizedExpression(node) ? skipParens(node.expression) : node;
}

function main(): void {
  const args = process.argv.slice(2);
  const rootAt = args.indexOf('--root');
  const root = rootAt >= 0 ? args[rootAt + 1]! : process.cwd();
  const shape = measure(root);
  if (args.includes('--json')) {
    console.log(JSON.stringify(shape, null, 2));
    return;
  }
  const list = args.includes('--list');
  const show = (title: string, findings: Finding[]) => {
    console.log(`${title}: ${findings.length}`);
    if (list) for (const f of findings) console.log(`  ${f.file}:${f.line}  ${f.what}`);
  };
  console.log(`source: ${shape.sourceFiles} files, ${shape.sourceLines} lines (outside test/)`);
  show(`files over ${FILE_LIMIT} lines`, shape.files);
  show(`functions over ${FUNCTION_LIMIT} lines`, shape.functions);
  show(`raw SQL statements outside ${SQL_HOMES.join(', ')}`, shape.sql);
  if (!list) {
    const byDir = new Map<string, number>();
    for (const f of shape.sql) {
      const dir = f.file.split('/')[0]!;
      byDir.set(dir, (byDir.get(dir) ?? 0) + 1);
    }
    console.log(`  by folder: ${[...byDir].map(([d, n]) => `${d} ${n}`).join(', ')}`);
  }
  show('`as unknown as` casts (source)', shape.unknownCasts);
  show('`any` (source)', shape.anys);
  show('`as unknown as` casts (test/)', shape.testUnknownCasts);
  show('`any` (test/)', shape.testAnys);
}

main();
