from encoderfile.proto import metadata_pb2 as _metadata_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransformType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFORM_TYPE_UNSPECIFIED: _ClassVar[TransformType]
    LUA: _ClassVar[TransformType]
TRANSFORM_TYPE_UNSPECIFIED: TransformType
LUA: TransformType

class EncoderfileManifest(_message.Message):
    __slots__ = ("model_type", "name", "version", "weights", "transform", "model_config", "tokenizer", "image_preprocessor")
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_PREPROCESSOR_FIELD_NUMBER: _ClassVar[int]
    model_type: _metadata_pb2.ModelType
    name: str
    version: str
    weights: Artifact
    transform: Artifact
    model_config: Artifact
    tokenizer: Artifact
    image_preprocessor: Artifact
    def __init__(self, model_type: _Optional[_Union[_metadata_pb2.ModelType, str]] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., weights: _Optional[_Union[Artifact, _Mapping]] = ..., transform: _Optional[_Union[Artifact, _Mapping]] = ..., model_config: _Optional[_Union[Artifact, _Mapping]] = ..., tokenizer: _Optional[_Union[Artifact, _Mapping]] = ..., image_preprocessor: _Optional[_Union[Artifact, _Mapping]] = ...) -> None: ...

class LuaLibs(_message.Message):
    __slots__ = ("libs",)
    LIBS_FIELD_NUMBER: _ClassVar[int]
    libs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, libs: _Optional[_Iterable[str]] = ...) -> None: ...

class Transform(_message.Message):
    __slots__ = ("transform_type", "transform", "lua_libs")
    TRANSFORM_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    LUA_LIBS_FIELD_NUMBER: _ClassVar[int]
    transform_type: TransformType
    transform: str
    lua_libs: LuaLibs
    def __init__(self, transform_type: _Optional[_Union[TransformType, str]] = ..., transform: _Optional[str] = ..., lua_libs: _Optional[_Union[LuaLibs, _Mapping]] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("offset", "length", "sha256")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    offset: int
    length: int
    sha256: bytes
    def __init__(self, offset: _Optional[int] = ..., length: _Optional[int] = ..., sha256: _Optional[bytes] = ...) -> None: ...
