/**
 * Updraft's search attributes. Keyword budget on the dev server's SQLite visibility: 10 Keyword,
 * 3 Datetime; we use 4 Keyword and 1 Datetime. `updraft dev` registers them.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DAG_ID = defineSearchAttributeKey('DagId', SearchAttributeType.KEYWORD);
export const DAG_RUN_ID = defineSearchAttributeKey('DagRunId', SearchAttributeType.KEYWORD);
export const RUN_TYPE = defineSearchAttributeKey('RunType', SearchAttributeType.KEYWORD);
export const DAG_RUN_STATE = defineSearchAttributeKey('DagRunState', SearchAttributeType.KEYWORD);
export const LOGICAL_DATE = defineSearchAttributeKey('LogicalDate', SearchAttributeType.DATETIME);

/** `--search-attribute` arguments for `temporal server start-dev`. */
export const SEARCH_ATTRIBUTE_FLAGS = [
  'DagId=Keyword',
  'DagRunId=Keyword',
  'RunType=Keyword',
  'DagRunState=Keyword',
  'LogicalDate=Datetime',
];
