import type { Article } from "./article.ts";
import { terms } from "./terms.ts";

/**
 * The best score a search must reach to count as found. A term weighs ln(1 + articles / articles holding it),
 * doubled in a title or keyword; so one body term unique to an article (≈1.95 with six articles) is enough.
 */
export const foundThreshold = 1.5;

const excerptLength = 200;

/** One ranked article. */
export interface ArticleMatch {
  id: string;
  title: string;
  /** Sum of the weights of the query terms the article holds; higher is better, not bounded. */
  score: number;
  /** The paragraph that best matches the query, shortened. */
  excerpt: string;
}

/** What a search tells the caller. */
export type SearchOutcome = {
  /** The best article scored at least {@link foundThreshold}. */
  found: boolean;
  /** Found, and the best article says a person must act (`escalate: true`). */
  needsEscalation: boolean;
  /** The best article's paragraph that best matches the query, when found. */
  answer: string | null;
  /** Articles holding any query term, best first. */
  articles: ArticleMatch[];
};

interface IndexedArticle {
  article: Article;
  headingTerms: Set<string>;
  bodyTerms: Set<string>;
  paragraphTerms: Array<Set<string>>;
}

function shorten(text: string): string {
  if (text.length <= excerptLength) return text;
  const cut = text.slice(0, excerptLength);
  return `${cut.slice(0, cut.lastIndexOf(" ") > 0 ? cut.lastIndexOf(" ") : excerptLength)}…`;
}

/** An in-memory index over articles, ranking them by inverse-document-frequency weighted term matches. */
export class SearchIndex {
  readonly #articles: IndexedArticle[];
  readonly #weights = new Map<string, number>();

  constructor(articles: Article[]) {
    this.#articles = articles.map((article) => {
      const paragraphTerms = article.paragraphs.map((paragraph) => new Set(terms(paragraph)));
      return {
        article,
        headingTerms: new Set(terms([article.title, ...article.keywords].join(" "))),
        bodyTerms: new Set(paragraphTerms.flatMap((set) => [...set])),
        paragraphTerms,
      };
    });
    const holding = new Map<string, number>();
    for (const indexed of this.#articles) {
      for (const term of new Set([...indexed.headingTerms, ...indexed.bodyTerms])) {
        holding.set(term, (holding.get(term) ?? 0) + 1);
      }
    }
    for (const [term, count] of holding) this.#weights.set(term, Math.log(1 + this.#articles.length / count));
  }

  /** Ranks the articles for a query and returns at most `limit` of them with the verdict. */
  search(query: string, limit: number): SearchOutcome {
    const queryTerms = [...new Set(terms(query))].filter((term) => this.#weights.has(term));
    const weight = (term: string): number => this.#weights.get(term) ?? 0;
    const ranked = this.#articles
      .map((indexed) => {
        let score = 0;
        for (const term of queryTerms) {
          if (indexed.headingTerms.has(term)) score += 2 * weight(term);
          else if (indexed.bodyTerms.has(term)) score += weight(term);
        }
        return { indexed, score };
      })
      .filter((candidate) => candidate.score > 0)
      .sort(
        (left, right) => right.score - left.score || left.indexed.article.id.localeCompare(right.indexed.article.id),
      );
    const bestParagraph = (indexed: IndexedArticle): string => {
      let best = 0;
      let bestScore = 0;
      indexed.paragraphTerms.forEach((paragraph, index) => {
        const score = queryTerms.reduce((sum, term) => sum + (paragraph.has(term) ? weight(term) : 0), 0);
        if (score > bestScore) [best, bestScore] = [index, score];
      });
      return indexed.article.paragraphs[best] ?? "";
    };
    const best = ranked[0];
    const found = best !== undefined && best.score >= foundThreshold;
    return {
      found,
      needsEscalation: found && best.indexed.article.escalate,
      answer: found ? bestParagraph(best.indexed) : null,
      articles: ranked.slice(0, limit).map(({ indexed, score }) => ({
        id: indexed.article.id,
        title: indexed.article.title,
        score: Math.round(score * 1000) / 1000,
        excerpt: shorten(bestParagraph(indexed)),
      })),
    };
  }
}
