"""Errors of model-trainer: one tree, one code per failure.

The tree::

    Exception
    └── AppError[CodeT]            an error with a machine-readable code and an HTTP-like status
        └── ModelTrainerError      every failure this package raises on purpose
            └── ConfigError        a bad config value (``CONFIG_CODES``); also a ``ValueError``

``ModelTrainerError(code, message)`` with a code of ``CONFIG_CODES`` is a ``ConfigError``, so
``except ValueError`` catches every invalid config, wherever it is found.

Codes (``ModelTrainerErrorCode``) and their statuses (``ERROR_STATUS``):

- ``TRAINING_CANCELLED`` (499): a run was stopped by its user; it keeps its history and checkpoint.
- ``TRAINING_OOM`` (507): the host ran out of memory while training.
- ``TRAINING_NAN_LOSS`` (500): the loss became NaN or infinite.
- ``TRAINING_DIVERGED`` (500): the loss ran away from its best value.
- ``MODEL_NOT_FOUND`` (404): no model artifact, run or backend of that name.
- ``MODEL_LOAD_FAILED`` (500): an artifact exists but cannot be read.
- ``MODEL_INCOMPATIBLE`` (400): a tokenizer or checkpoint that does not fit the model.
- ``INVALID_MODEL_SIZE`` (400): a size the model family does not define.
- ``INVALID_CONFIG`` (400): a config field with a bad value.
- ``TOKENIZER_NOT_FOUND`` (404): no tokenizer file at that path.
- ``TOKENIZER_LOAD_FAILED`` (500): a tokenizer file that cannot be read.
- ``TOKENIZER_TRAIN_FAILED`` (500): a tokenizer could not be built from the corpus.
- ``CORPUS_NOT_FOUND`` (404): no corpus at that path.
- ``CORPUS_EMPTY`` (400): a corpus with no text (or only whitespace).
- ``CORPUS_TOO_LARGE`` (413): a corpus over the size cap in Settings.
- ``CUDA_NOT_AVAILABLE`` (503): a CUDA device was asked for and there is none.
- ``CUDA_OOM`` (507): the GPU ran out of memory.
- ``ARTIFACT_UPLOAD_FAILED`` (502): an artifact could not be written.
- ``ARTIFACT_DOWNLOAD_FAILED`` (502): an artifact could not be fetched.
- ``INTERNAL_ERROR`` (500): an unexpected exception, recorded at the job boundary.
"""

from __future__ import annotations

from typing import Final, Generic, Literal, TypeVar

ModelTrainerErrorCode = Literal[
    "TRAINING_CANCELLED",
    "TRAINING_OOM",
    "TRAINING_NAN_LOSS",
    "TRAINING_DIVERGED",
    "MODEL_NOT_FOUND",
    "MODEL_LOAD_FAILED",
    "MODEL_INCOMPATIBLE",
    "INVALID_MODEL_SIZE",
    "INVALID_CONFIG",
    "TOKENIZER_NOT_FOUND",
    "TOKENIZER_LOAD_FAILED",
    "TOKENIZER_TRAIN_FAILED",
    "CORPUS_NOT_FOUND",
    "CORPUS_EMPTY",
    "CORPUS_TOO_LARGE",
    "CUDA_NOT_AVAILABLE",
    "CUDA_OOM",
    "ARTIFACT_UPLOAD_FAILED",
    "ARTIFACT_DOWNLOAD_FAILED",
    "INTERNAL_ERROR",
]

ERROR_STATUS: dict[ModelTrainerErrorCode, int] = {
    "TRAINING_CANCELLED": 499,
    "TRAINING_OOM": 507,
    "TRAINING_NAN_LOSS": 500,
    "TRAINING_DIVERGED": 500,
    "MODEL_NOT_FOUND": 404,
    "MODEL_LOAD_FAILED": 500,
    "MODEL_INCOMPATIBLE": 400,
    "INVALID_MODEL_SIZE": 400,
    "INVALID_CONFIG": 400,
    "TOKENIZER_NOT_FOUND": 404,
    "TOKENIZER_LOAD_FAILED": 500,
    "TOKENIZER_TRAIN_FAILED": 500,
    "CORPUS_NOT_FOUND": 404,
    "CORPUS_EMPTY": 400,
    "CORPUS_TOO_LARGE": 413,
    "CUDA_NOT_AVAILABLE": 503,
    "CUDA_OOM": 507,
    "ARTIFACT_UPLOAD_FAILED": 502,
    "ARTIFACT_DOWNLOAD_FAILED": 502,
    "INTERNAL_ERROR": 500,
}

CONFIG_CODES: Final[frozenset[ModelTrainerErrorCode]] = frozenset(
    {"INVALID_CONFIG", "INVALID_MODEL_SIZE"}
)

CodeT = TypeVar("CodeT", bound=str)


class AppError(Exception, Generic[CodeT]):
    """An error with a machine-readable code, a message and an HTTP-like status."""

    def __init__(self, code: CodeT, message: str, *, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code: CodeT = code
        self.message = message
        self.status = status


class ModelTrainerError(AppError[ModelTrainerErrorCode]):
    """Every failure model-trainer raises on purpose; ``code`` says which.

    Built with a code of ``CONFIG_CODES`` it is a ``ConfigError`` (a ``ValueError`` too).
    """

    def __new__(cls, code: ModelTrainerErrorCode, message: str) -> ModelTrainerError:
        """A ``ConfigError`` for a config code, else an instance of ``cls``."""
        kind = ConfigError if cls is ModelTrainerError and code in CONFIG_CODES else cls
        return super().__new__(kind, code, message)

    def __init__(self, code: ModelTrainerErrorCode, message: str) -> None:
        super().__init__(code, message, status=ERROR_STATUS[code])


class ConfigError(ModelTrainerError, ValueError):
    """A config field with a bad value: ``INVALID_CONFIG`` or ``INVALID_MODEL_SIZE``."""


def user_error(code: ModelTrainerErrorCode) -> bool:
    """Whether a code is the user's to fix (a 4xx status) rather than the system's."""
    return ERROR_STATUS[code] < 500
