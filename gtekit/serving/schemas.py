"""Request and response bodies of the server's routes (pydantic), OpenAI's where OpenAI has one.

Request validation here checks shapes and types only, strictly for numbers and booleans (``"dimensions":
"12"``, ``12.0`` or ``true`` is a 422, not 12); limits that depend on the server's settings
(inputs per request, characters per text, ``k``) are checked by the routes. The response models
document the routes (``/docs``); the routes serialise plain dicts of the same shape, which is faster.
Depends on pydantic only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator
from pydantic_core import PydanticCustomError

TokenIds = list[int]


class EncodingFormat(StrEnum):
    FLOAT = "float"
    BASE64 = "base64"  # little-endian float32 bytes, base64-encoded


class InputType(StrEnum):
    """Which of the model's prefixes (``query_prefix`` / ``document_prefix``) goes before each text."""

    QUERY = "query"
    DOCUMENT = "document"


def texts_from(value: Any, field: str) -> list[str]:
    """A string or a list of strings -> a list of strings; anything else is a clear validation error.
    Lists of token ids (OpenAI accepts them, for its own tokenizer) are refused: this server embeds text."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise PydanticCustomError("invalid_input", f"{field} must be a string or a list of strings, "
                                                   f"got {type(value).__name__}")
    if not value:
        raise PydanticCustomError("invalid_input", f"{field} is an empty list: give at least one text")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value) or all(
            isinstance(item, list) for item in value):
        raise PydanticCustomError("token_ids_unsupported", f"{field} holds token ids, which this server does not "
                                                           "accept (they belong to another tokenizer): send text")
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise PydanticCustomError("invalid_input", f"{field}[{position}] must be a string, "
                                                       f"got {type(item).__name__}")
    return value


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``: the OpenAI embeddings request, plus ``input_type``."""

    input: str | list[str] | TokenIds | list[TokenIds] = Field(
        description="a text or a list of texts (token-id lists are refused with 422)")
    model: str = Field(description="the served model's name or one of its aliases (see GET /v1/models)")
    encoding_format: EncodingFormat = EncodingFormat.FLOAT
    dimensions: StrictInt | None = Field(None, description="keep the first N coordinates, then L2-renormalise "
                                                           "(Matryoshka truncation); 1 <= N <= the model's dimension")
    user: str | None = Field(None, description="accepted and ignored")
    input_type: InputType | None = Field(None, description="gtekit extension: add the model's query or "
                                                           "document prefix (default: none)")

    @field_validator("input", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> list[str]:
        return texts_from(value, "input")


class Usage(BaseModel):
    prompt_tokens: int = Field(description="tokens fed to the model (special tokens included, after truncation)")
    total_tokens: int


class EmbeddingObject(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 of little-endian float32 bytes")


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingObject]
    model: str
    usage: Usage


class SearchRequest(BaseModel):
    """``POST /search``: nearest documents of the index for each query (embedded with the query prefix)."""

    query: str | list[str] = Field(description="a query or a list of queries")
    k: StrictInt = Field(10, ge=1, description="hits per query (at most the server's --max-k)")
    rescore: StrictBool | None = Field(None, description="rescore the index's candidates with the exact "
                                                         "embeddings (default: whenever the index keeps them)")

    @field_validator("query", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> list[str]:
        return texts_from(value, "query")


class Hit(BaseModel):
    id: str
    score: float = Field(description="cosine similarity (inner product of normalised embeddings)")
    text: str | None


class SearchResult(BaseModel):
    object: Literal["search_result"] = "search_result"
    index: int = Field(description="position of the query in the request")
    hits: list[Hit]


class SearchResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[SearchResult]
    model: str
    usage: Usage


class InputTypeCard(BaseModel):
    """What one ``input_type`` of ``POST /v1/embeddings`` does to each text."""

    input_type: InputType
    prefix: str = Field(description="the model's prefix for this input type, put before each text ('': none)")
    template: str = Field(description="the text the model embeds: the input replaces {text}, e.g. 'query: {text}' "
                                      "(cpt-text models also wrap it in delimiters)")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "gtekit"
    input_types: list[InputTypeCard] = Field(default_factory=list, description=(
        "gtekit extension: the accepted input_type values and the prefix each applies; without input_type "
        "a text is embedded as sent"))


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class BatchingStats(BaseModel):
    requests: int = Field(description="requests encoded (embeddings and search)")
    texts: int = Field(description="texts encoded")
    model_calls: int = Field(description="batches run through the model; fewer than requests when coalesced")
    largest_batch: int
    rejected_overloaded: int = Field(description="requests refused with 503 because the queue was full")
    isolated_retries: int = Field(0, description="batches whose model call failed and were encoded again one "
                                                 "request at a time, so that only the failing request failed")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    dimension: int
    uptime_s: float
    queue_depth: int = Field(description="texts waiting for the model")
    batching: BatchingStats
    index: dict | None = Field(None, description="documents and dimension of the search index, if any")
