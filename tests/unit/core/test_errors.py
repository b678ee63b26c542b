import re
import typing

import pytest

from model_trainer.core import errors
from model_trainer.core.errors import (
    CONFIG_CODES,
    ERROR_STATUS,
    AppError,
    ConfigError,
    ModelTrainerError,
    ModelTrainerErrorCode,
    user_error,
)


def test_literal_status_map_and_docstring_agree() -> None:
    codes = set(typing.get_args(ModelTrainerErrorCode))
    documented = dict(re.findall(r"- ``([A-Z_]+)`` \((\d{3})\)", errors.__doc__ or ""))
    assert set(ERROR_STATUS) == codes
    assert set(documented) == codes
    assert {code: int(status) for code, status in documented.items()} == ERROR_STATUS


def test_error_carries_code_message_and_status() -> None:
    err = ModelTrainerError("CORPUS_EMPTY", "corpus_path 'x.txt' holds no text")
    assert isinstance(err, AppError)
    assert (err.code, err.status) == ("CORPUS_EMPTY", 400)
    assert str(err) == "CORPUS_EMPTY: corpus_path 'x.txt' holds no text"
    with pytest.raises(ModelTrainerError, match="holds no text"):
        raise err


def test_user_error_splits_on_status() -> None:
    assert user_error("INVALID_CONFIG")
    assert user_error("TRAINING_CANCELLED")
    assert not user_error("TRAINING_NAN_LOSS")
    assert not user_error("CUDA_OOM")


@pytest.mark.parametrize("code", sorted(CONFIG_CODES))
def test_a_config_code_makes_a_value_error(code: ModelTrainerErrorCode) -> None:
    err = ModelTrainerError(code, "batch_size must be an integer >= 1, got 0")
    assert type(err) is ConfigError
    assert isinstance(err, ValueError)
    assert (err.code, err.status) == (code, 400)
    assert str(err) == f"{code}: batch_size must be an integer >= 1, got 0"
    with pytest.raises(ValueError, match="got 0"):
        raise err


def test_other_codes_are_not_value_errors() -> None:
    errs = [ModelTrainerError("CORPUS_EMPTY", "empty"), ModelTrainerError("CUDA_OOM", "full")]
    assert [type(err) for err in errs] == [ModelTrainerError, ModelTrainerError]
    assert not any(isinstance(err, ValueError) for err in errs)
    direct = ConfigError("INVALID_MODEL_SIZE", "model_size 'huge'")
    assert (type(direct), direct.status) == (ConfigError, 400)
