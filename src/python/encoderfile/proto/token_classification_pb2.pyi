from encoderfile.proto import metadata_pb2 as _metadata_pb2
from encoderfile.proto import token_pb2 as _token_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TokenClassificationRequest(_message.Message):
    __slots__ = ("inputs", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, inputs: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TokenClassificationResponse(_message.Message):
    __slots__ = ("results", "model_id", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TokenClassificationResult]
    model_id: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, results: _Optional[_Iterable[_Union[TokenClassificationResult, _Mapping]]] = ..., model_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TokenClassificationResult(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenClassification]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenClassification, _Mapping]]] = ...) -> None: ...

class TokenClassification(_message.Message):
    __slots__ = ("token_info", "scores", "label", "score")
    TOKEN_INFO_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    token_info: _token_pb2.TokenInfo
    scores: _containers.RepeatedScalarFieldContainer[float]
    label: str
    score: float
    def __init__(self, token_info: _Optional[_Union[_token_pb2.TokenInfo, _Mapping]] = ..., scores: _Optional[_Iterable[float]] = ..., label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...
