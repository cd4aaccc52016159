// Regular-language inclusion with refa (RunDevelopment/refa, the automata library behind
// eslint-plugin-regexp): a JSON Schema pattern is an ECMA-262 regular expression, and whether every
// string one pattern allows is allowed by another is decidable for the patterns schemas use (no
// lookaround inside, no backreference) by building both automata.
import { CharSet, DFA, JS, NFA, TooManyNodesError, type Concatenation, type Element, type NoParent } from 'refa';

/** What a producer promises about a string, as far as its patterns and lengths go. */
export interface StringPromise {
  /** The JSON Schema `pattern` (search semantics: unanchored unless it writes `^`/`$`), if any. */
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
}

/** The outcome of {@link patternInclusion}. */
export type PatternInclusion =
  | { readonly included: true }
  /** `example`: a string the producer allows and the consumer's pattern refuses. */
  | { readonly included: false; readonly example: string }
  /** The patterns could not be compared (a lookaround or backreference, or an automaton too large). */
  | { readonly included: undefined; readonly why: string };

// Bounds how large an automaton may grow; beyond it the check gives up and says so.
const MAX_NODES = 20_000;
// A length bound above this is left out of the producer's language (it only widens it, which is safe).
const MAX_LENGTH_BOUND = 1_000;

function isAllCharacters(element: NoParent<Element> | undefined, kind: 'ahead' | 'behind'): boolean {
  // Without the `m` flag, `^` parses as (?<![^]) and `$` as (?![^]): nothing before / after.
  if (element?.type !== 'Assertion' || element.kind !== kind || !element.negate) return false;
  const only = element.alternatives.length === 1 ? element.alternatives[0]?.elements : undefined;
  return only?.length === 1 && only[0]?.type === 'CharacterClass' && only[0].characters.isAll;
}

/** The automaton of every whole string in which `pattern` finds a match (JSON Schema semantics, `u` flag). */
function languageOf(pattern: string, length?: { min: number; max: number }): NFA {
  const { expression, maxCharacter } = JS.Parser.fromLiteral({ source: pattern, flags: 'u' }).parse({
    assertions: 'parse',
    backreferences: 'throw',
    maxNodes: MAX_NODES,
  });
  const anyCharacters = (min: number, max: number): NoParent<Element> => ({
    type: 'Quantifier',
    lazy: false,
    min,
    max,
    alternatives: [
      { type: 'Concatenation', elements: [{ type: 'CharacterClass', characters: CharSet.all(maxCharacter) }] },
    ],
  });
  // An unanchored alternative may match anywhere: it gets "anything" before and after it.
  const wholeStrings = expression.alternatives.map((alternative): NoParent<Concatenation> => {
    const elements: NoParent<Element>[] = [...alternative.elements];
    if (isAllCharacters(elements[0], 'behind')) elements.shift();
    else elements.unshift(anyCharacters(0, Infinity));
    if (isAllCharacters(elements.at(-1), 'ahead')) elements.pop();
    else elements.push(anyCharacters(0, Infinity));
    return { type: 'Concatenation', elements };
  });
  const factory = new NFA.LimitedNodeFactory(MAX_NODES);
  const nfa = NFA.fromRegex(wholeStrings, { maxCharacter }, { assertions: 'throw', unknowns: 'throw' }, factory);
  if (length === undefined) return nfa;
  const bounded = NFA.fromRegex(
    { type: 'Concatenation', elements: [anyCharacters(length.min, length.max)] },
    { maxCharacter },
    {},
    factory,
  );
  return NFA.fromIntersection(nfa, bounded, factory);
}

/**
 * Whether every string the producer promises (its pattern and length bounds) matches the
 * consumer's `pattern`. A producer without a pattern promises any string of its lengths. Answers
 * a counterexample when it is not included, and `included: undefined` with the reason when the
 * patterns cannot be compared exactly (the caller then stays conservative).
 */
export function patternInclusion(consumerPattern: string, producer: StringPromise): PatternInclusion {
  try {
    const min = producer.minLength ?? 0;
    const max = producer.maxLength ?? Infinity;
    const length =
      min > 0 || max <= MAX_LENGTH_BOUND ? { min, max: max <= MAX_LENGTH_BOUND ? max : Infinity } : undefined;
    const produced = languageOf(producer.pattern ?? '', length);
    const refused = DFA.fromFA(languageOf(consumerPattern), new DFA.LimitedNodeFactory(MAX_NODES));
    refused.complement();
    const both = NFA.fromIntersection(produced, refused, new NFA.LimitedNodeFactory(MAX_NODES));
    if (both.isEmpty) return { included: true };
    for (const word of both.words()) return { included: false, example: String.fromCodePoint(...word) };
    return { included: true };
  } catch (error) {
    return { included: undefined, why: whyNotCompared(error) };
  }
}

/** A readable reason why refa could not compare two patterns. */
function whyNotCompared(error: unknown): string {
  if (error instanceof TooManyNodesError) return 'their automata are too large';
  const message = error instanceof Error ? error.message : String(error);
  if (/assertion/i.test(message)) return 'a lookaround or word-boundary assertion is not compared';
  if (/backreference/i.test(message)) return 'a backreference is not compared';
  return message;
}
