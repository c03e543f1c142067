from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TYPE_UNSPECIFIED: _ClassVar[ModelType]
    EMBEDDING: _ClassVar[ModelType]
    SEQUENCE_CLASSIFICATION: _ClassVar[ModelType]
    TOKEN_CLASSIFICATION: _ClassVar[ModelType]
    SENTENCE_EMBEDDING: _ClassVar[ModelType]
    IMAGE_CLASSIFICATION: _ClassVar[ModelType]
MODEL_TYPE_UNSPECIFIED: ModelType
EMBEDDING: ModelType
SEQUENCE_CLASSIFICATION: ModelType
TOKEN_CLASSIFICATION: ModelType
SENTENCE_EMBEDDING: ModelType
IMAGE_CLASSIFICATION: ModelType

class GetModelMetadataRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetModelMetadataResponse(_message.Message):
    __slots__ = ("model_id", "model_type", "id2label")
    class Id2labelEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID2LABEL_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_type: ModelType
    id2label: _containers.ScalarMap[int, str]
    def __init__(self, model_id: _Optional[str] = ..., model_type: _Optional[_Union[ModelType, str]] = ..., id2label: _Optional[_Mapping[int, str]] = ...) -> None: ...
