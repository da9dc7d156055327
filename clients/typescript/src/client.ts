// A minimal typed client over fetch, the way an app team would use the generated types:
// each operation's variables and result are checked by the compiler (tsc --strict).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

import {
  HomeScreenDocument,
  RedeemRewardDocument,
  type HomeScreenQuery,
  type RedeemRewardMutation,
} from "./generated/graphql.js";

export interface GraphQLError {
  message: string;
  extensions?: { code?: string; retryable?: boolean; retryAfter?: number };
}

export class LoyaltyClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async request<Result, Variables>(
    document: TypedDocumentNode<Result, Variables>,
    variables: Variables,
  ): Promise<{ data: Result | null; errors?: GraphQLError[] }> {
    const response = await fetch(this.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query: print(document), variables }),
    });
    return (await response.json()) as { data: Result | null; errors?: GraphQLError[] };
  }
}

/** What the app's home screen shows: typed down to each field. */
export function summary(home: HomeScreenQuery): string {
  const points = home.me.points;
  const tier = home.me.tier.current?.name ?? "no tier";
  const expiring = points.expiringSoon.reduce((sum, lot) => sum + lot.points, 0);
  const challenges = home.me.challenges.edges.map(
    (edge) => `${edge.node.title}: ${edge.node.progress?.percent ?? 0}%`,
  );
  return [`${points.available} points (${expiring} expiring)`, tier, ...challenges].join("\n");
}

/** A redemption's outcome: the payload's errors are data, with a stable code. */
export async function redeem(
  client: LoyaltyClient,
  rewardId: string,
  idempotencyKey: string,
): Promise<RedeemRewardMutation["redeemReward"] | null> {
  const { data } = await client.request(RedeemRewardDocument, { rewardId, idempotencyKey });
  return data?.redeemReward ?? null;
}

export async function home(client: LoyaltyClient): Promise<string | null> {
  const { data } = await client.request(HomeScreenDocument, {});
  return data === null ? null : summary(data);
}
