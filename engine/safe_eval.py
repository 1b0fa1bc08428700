"""Evaluates a tensor expression typed by a person, over an allow-list, never with eval().

The tensors and autograd labs take expressions such as `torch.ones(2, 3) @ x.T`, and the app
may be served to a browser, so that box must not run arbitrary code. The text is parsed
with `ast` and the whole tree is checked before anything runs: only numbers, short strings,
lists, tuples, arithmetic, comparisons, indexing and slicing, the names we hand in, and calls
to allow-listed torch functions and tensor methods. Imports, lambdas, comprehensions,
assignments, underscore/dunder attributes and any other name are refused, and nothing
executes. A function can only be called, never passed around as a value. `torch.empty`'s
uninitialized memory is filled (NaN) so that no leftover process memory is ever shown.

Memory: a call whose result could pass the limit (default 1 GiB, all results together) is
first run on the `meta` device, which computes the result's shape and dtype without
allocating it, and refused if too large. Small inputs to an op whose result they bound
(math, reductions, reshapes) skip that step: its first use costs ~1.5 s of imports. Ops
whose result size depends on the values (nonzero, unique, boolean masks) run only when
their inputs bound them, charged at their worst case before they run; Python ints and lists
are bounded too, and `.tolist()` is charged for the Python objects it makes.

Work: a tensor read by an op counts at its logical size (numel x element size), so an
expanded or broadcast view of a few bytes that stands for terabytes (`torch.zeros(1)
.expand(10**6, 10**6).sum()`) is refused rather than run for minutes.

Native crashes: LAPACK/MKL routines (the torch.linalg family, det, inverse, ...) can crash
the process on NaN or inf input (`torch.linalg.eigvals` of a NaN matrix is a SIGSEGV with
MKL), so non-finite input to them is refused before the call.
"""

from __future__ import annotations

import ast
import operator
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from pttui.engine import numbers
from pttui.engine.params import ParamError

GiB = 1 << 30
DEFAULT_LIMIT = GiB
MAX_SEQUENCE = 1_000_000  # elements of a Python list/tuple/str built by * or +
MAX_LIST_NUMBERS = 10_000_000  # numbers in a nested list handed to torch.tensor
MAX_INT_BITS = 4096  # Python ints (2 ** 10 ** 9 would take the process down)
MAX_STR = 200
MAX_DEPTH = 100
PY_OBJECT_BYTES = 32  # a Python float/int (24 bytes) and the list slot pointing at it
PY_LIST_BYTES = 56  # an empty list object; its slots are counted with the numbers


class ExpressionError(ValueError):
    """The expression was refused or failed; the message says what and why, for a person."""


class Refused(ExpressionError):
    """Outside the allow-list, or over a limit: checked before anything ran or was allocated."""


class TooLarge(Refused):
    """A result over the memory limit, refused before allocation."""


def param_error(field_name: str, value: Any, message: str) -> ParamError:
    """A ParamError (exit 2, the form field marked) whose message is ours, not 'expected ...'."""
    err = ParamError(field_name, value, message)
    err.args = (f"{field_name}: {message}",)
    return err


# --- the allow-lists ---------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_TORCH_FUNCS = _words(
    """
tensor as_tensor zeros ones empty full zeros_like ones_like empty_like full_like rand randn randint
rand_like randn_like randint_like randperm arange linspace logspace eye complex polar
cat concat concatenate stack hstack vstack dstack column_stack reshape flatten unflatten squeeze
unsqueeze transpose swapaxes permute movedim t split tensor_split chunk unbind narrow gather
index_select masked_select where flip fliplr flipud roll rot90 tril triu diag diag_embed diagonal
diagflat broadcast_to broadcast_tensors meshgrid repeat_interleave tile kron outer cartesian_prod
take take_along_dim nonzero argwhere unique unique_consecutive sort argsort topk kthvalue msort
cumsum cumprod cummax cummin diff searchsorted bucketize histc clone
add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow float_power
neg negative abs absolute exp exp2 expm1 log log2 log10 log1p sqrt rsqrt sin cos tan asin acos
atan atan2 arctan2 sinh cosh tanh asinh acosh atanh sigmoid relu softmax log_softmax clamp clip
floor ceil round trunc frac sign sgn reciprocal square lerp hypot maximum minimum fmax fmin erf
erfc erfinv lgamma digamma logit logsumexp logaddexp xlogy nan_to_num deg2rad rad2deg heaviside
isnan isinf isfinite isclose allclose equal eq ne lt le gt ge greater less logical_and logical_or
logical_not logical_xor bitwise_and bitwise_or bitwise_xor bitwise_not
sum mean nanmean nansum prod max min amax amin aminmax argmax argmin std var std_mean var_mean
median nanmedian mode quantile norm all any count_nonzero dist cdist
matmul mm bmm mv dot vdot inner einsum tensordot addmm addmv baddbmm det logdet inverse trace
cross cholesky real imag angle conj view_as_real view_as_complex
is_tensor is_floating_point is_complex numel result_type promote_types can_cast get_default_dtype
broadcast_shapes device Size
"""
)
_TORCH_VALUES = _words(
    """
float32 float64 float16 bfloat16 half float double int8 int16 int32 int64 uint8 bool complex64
complex128 cfloat cdouble long int short pi e inf nan strided
"""
)
_LINALG = _words(
    """
norm vector_norm matrix_norm det slogdet inv pinv solve eig eigvals eigh eigvalsh svd svdvals qr lu
matrix_rank cholesky cross matmul multi_dot matrix_power lstsq vecdot
"""
)
_FFT = _words("fft ifft rfft irfft fft2 ifft2 fftn ifftn fftfreq rfftfreq fftshift ifftshift")
_SPECIAL = _words("expit logit erf erfc softmax log_softmax xlogy gammaln sinc entr")
_FUNCTIONAL = _words(
    """
relu relu6 leaky_relu elu selu celu gelu silu mish softplus softsign sigmoid tanh hardtanh
hardsigmoid hardswish logsigmoid softmax log_softmax softmin normalize linear bilinear conv1d conv2d
conv3d conv_transpose1d conv_transpose2d max_pool1d max_pool2d avg_pool1d avg_pool2d
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_max_pool2d pad one_hot embedding dropout
layer_norm group_norm mse_loss l1_loss smooth_l1_loss huber_loss cross_entropy nll_loss
binary_cross_entropy binary_cross_entropy_with_logits kl_div cosine_similarity pairwise_distance
interpolate unfold fold pixel_shuffle glu
"""
)
_TENSOR_METHODS_EXTRA = _words(
    """
view view_as reshape_as expand expand_as repeat contiguous detach to type_as float double half
bfloat16 int long short bool byte char cfloat cdouble cpu cuda item tolist size dim ndimension
nelement element_size stride storage_offset is_contiguous is_signed requires_grad_ retain_grad
backward zero_ fill_ copy_ normal_ uniform_ bernoulli exponential_ masked_fill index_fill scatter
scatter_add index_add index_copy new_tensor new_zeros new_ones new_empty new_full addcmul addcdiv
clamp_min clamp_max fill_diagonal_ unfold sum_to_size
"""
)
_TENSOR_PROPERTIES = _words(
    """
shape dtype device ndim T mT H mH grad requires_grad is_leaf data real imag layout is_cuda
itemsize nbytes
"""
)
_OTHER_ATTRS = {
    "dtype": {"is_floating_point", "is_complex", "is_signed", "itemsize"},
    "device": {"type", "index"},
}
BUILTINS = {
    "abs": abs,
    "len": len,
    "float": float,
    "int": int,
    "bool": bool,
    "round": round,
    "complex": complex,
}
# Return values that size themselves from the values: run only when their inputs bound them.
_BOUNDED_BY_INPUT = set(_words("nonzero argwhere masked_select unique unique_consecutive getitem where"))
# Calls that make no new tensor (or are accounted separately): no meta pre-check.
_NO_META = {"item", "tolist", "size", "dim", "ndimension", "numel", "nelement", "element_size", "stride"}
_NO_META |= {"storage_offset", "is_contiguous", "is_signed", "is_floating_point", "is_complex", "is_tensor"}
_NO_META |= {"backward", "retain_grad", "requires_grad_", "equal", "result_type", "promote_types", "can_cast"}
_NO_META |= {"get_default_dtype", "broadcast_shapes", "device", "Size"}
# Ops whose result is at most a few bytes per input element (math, reductions, reshapes,
# cat/stack, dtype and device moves): with small inputs they need no meta run.
_BOUNDED_BY_INPUT_SIZE = set(
    _words(
        """abs absolute neg negative exp exp2 expm1 log log2 log10 log1p sqrt rsqrt sin cos tan asin
    acos atan sinh cosh tanh asinh acosh atanh sigmoid relu softmax log_softmax clamp clip floor
    ceil round trunc frac sign sgn reciprocal square erf erfc erfinv lgamma digamma logit
    nan_to_num deg2rad rad2deg isnan isinf isfinite logical_not bitwise_not real imag angle conj
    relu6 leaky_relu elu selu celu gelu silu mish softplus softsign hardtanh hardsigmoid
    hardswish logsigmoid softmin normalize dropout expit
    sum mean nanmean nansum prod max min amax amin aminmax argmax argmin std var std_mean var_mean
    median nanmedian mode norm all any count_nonzero logsumexp cumsum cumprod cummax cummin sort
    argsort topk kthvalue msort diff trace det logdet inverse vector_norm matrix_norm
    reshape view view_as reshape_as flatten unflatten squeeze unsqueeze transpose swapaxes permute
    movedim t contiguous clone detach flip fliplr flipud roll rot90 tril triu diagonal narrow
    split tensor_split chunk unbind gather take masked_fill
    cat concat concatenate stack hstack vstack dstack column_stack
    to float double half bfloat16 int long short bool byte char cfloat cdouble cpu cuda type_as
    zeros_like ones_like empty_like full_like rand_like randn_like randint_like"""
    )
)
_BOUNDED_BY_INPUT_SIZE |= {n + "_" for n in _BOUNDED_BY_INPUT_SIZE}
# Their memory is not initialized: it would show whatever the process held there before.
_UNINITIALIZED = {"empty", "empty_like", "new_empty"}
# Functions whose tensor arguments broadcast against each other (shown in the tensors lab).
_ELEMENTWISE = set(
    _words(
        """add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow
    float_power atan2 arctan2 lerp hypot maximum minimum fmax fmin logaddexp xlogy heaviside where
    eq ne lt le gt ge greater less logical_and logical_or logical_xor bitwise_and bitwise_or
    bitwise_xor clamp clip isclose masked_fill addcmul addcdiv broadcast_tensors"""
    )
)


# LAPACK/MKL-backed routines: NaN or inf input can crash the process (SIGSEGV), not raise.
_LAPACK = set(
    _words(
        """det slogdet inv pinv solve eig eigvals eigh eigvalsh svd svdvals qr lu matrix_rank cholesky
    lstsq logdet inverse matrix_norm norm cdist"""
    )
)
# Calls that only look at a tensor or make a view of it: no work over its elements.
_VIEWS = _words(
    """expand expand_as broadcast_to view view_as transpose t permute unsqueeze squeeze narrow diagonal
    movedim swapaxes unflatten size dim ndimension numel nelement element_size stride storage_offset
    is_contiguous is_signed is_floating_point is_complex is_tensor detach requires_grad_ retain_grad
    result_type"""
)


class Namespace:
    """A stand-in for a torch module that exposes only its allow-listed names."""

    def __init__(self, path: str, functions: list[str], values: list[str] = (), spaces=None):
        self.path = path
        self.functions = set(functions)
        self.values = set(values)
        self.spaces: dict[str, Namespace] = dict(spaces or {})

    def module(self):
        import importlib

        return importlib.import_module(self.path)

    def __repr__(self) -> str:
        return f"<{self.path}>"


def _namespaces() -> dict[str, Namespace]:
    functional = Namespace("torch.nn.functional", _FUNCTIONAL)
    nn = Namespace("torch.nn", [], spaces={"functional": functional})
    torch_ns = Namespace(
        "torch",
        _TORCH_FUNCS,
        _TORCH_VALUES,
        spaces={
            "linalg": Namespace("torch.linalg", _LINALG),
            "fft": Namespace("torch.fft", _FFT),
            "special": Namespace("torch.special", _SPECIAL),
            "nn": nn,
        },
    )
    return {"torch": torch_ns, "F": functional}


NAMESPACES = _namespaces()


@cache
def _tensor_methods() -> set[str]:
    import torch

    names = {n for n in _TORCH_FUNCS if hasattr(torch.Tensor, n)} | set(_TENSOR_METHODS_EXTRA)
    names -= {"tensor", "device", "Size", "is_tensor", "numel"}  # not methods, or re-added below
    names |= {"numel", "is_floating_point", "is_complex"}
    inplace = {n + "_" for n in names if hasattr(torch.Tensor, n + "_")}
    return names | inplace


@cache
def _all_attribute_names() -> set[str]:
    names: set[str] = set(_TENSOR_PROPERTIES) | set(_TENSOR_METHODS_EXTRA)
    for ns in _walk_namespaces():
        names |= ns.functions | ns.values | set(ns.spaces)
    for attrs in _OTHER_ATTRS.values():
        names |= attrs
    names |= {n + "_" for n in names}  # in-place variants; checked against Tensor at run time
    # Fields of torch.return_types results (torch.max(x, 0).indices, torch.linalg.svd(a).S, ...).
    names |= set(_words("values indices eigenvalues eigenvectors U S Vh Q R sign logabsdet solution P L"))
    return names


def _walk_namespaces():
    stack = list(NAMESPACES.values())
    while stack:
        ns = stack.pop()
        yield ns
        stack.extend(ns.spaces.values())


@dataclass
class Broadcast:
    """One operation between tensors of different shapes, and the shape they broadcast to."""

    text: str
    shapes: list[tuple[int, ...]]
    result: tuple[int, ...]

    def aligned(self) -> list[tuple[int, ...]]:
        """Each shape padded with 1s on the left to the result's rank: how broadcasting lines them up."""
        n = len(self.result)
        return [(1,) * (n - len(s)) + tuple(s) for s in self.shapes]


@dataclass
class _Fn:
    """A callable picked by name from an allow-list; exists only while a Call is evaluated."""

    name: str
    call: Any
    owner: Any = None  # the tensor, for a method
    namespace: Namespace | None = None


@dataclass
class Evaluator:
    """Evaluates expressions over `names`; keeps what they allocated against `limit` bytes."""

    names: dict[str, Any] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    allocated: int = 0
    broadcasts: list[Broadcast] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    text: str = ""

    def __post_init__(self) -> None:
        self.scope = {**self.names, **NAMESPACES, **BUILTINS}  # given names never shadow torch
        self.attribute_names = _all_attribute_names()

    @property
    def methods(self) -> set[str]:
        return _tensor_methods()  # imports torch: only evaluation needs it, never `parse`

    # -- checking, before anything runs --

    def parse(self, text: str) -> ast.expr:
        """Parse and check the whole expression; raises Refused and runs nothing."""
        if "\x00" in text:
            raise Refused("the expression contains a NUL character")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise Refused(f"not a Python expression: {exc.msg} (column {exc.offset})") from None
        except (RecursionError, MemoryError, ValueError):
            raise Refused("the expression is nested too deeply") from None
        self.check(tree.body)
        return tree.body

    def check(self, root: ast.AST) -> None:
        stack = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise Refused(f"the expression is nested more than {MAX_DEPTH} levels deep")
            self._check_node(node)
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    _NODES = (
        ast.Constant,
        ast.Name,
        ast.Load,
        ast.Attribute,
        ast.Call,
        ast.keyword,
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.Compare,
        ast.IfExp,
        ast.Subscript,
        ast.Slice,
        ast.Tuple,
        ast.List,
        ast.operator,
        ast.unaryop,
        ast.boolop,
        ast.cmpop,
    )
    _REFUSED_WORDS: ClassVar[dict[type, str]] = {
        ast.Lambda: "lambdas",
        ast.ListComp: "comprehensions",
        ast.SetComp: "comprehensions",
        ast.DictComp: "comprehensions",
        ast.GeneratorExp: "generator expressions",
        ast.NamedExpr: "assignments (:=)",
        ast.JoinedStr: "f-strings",
        ast.Await: "await",
        ast.Starred: "* unpacking",
        ast.Dict: "dicts",
        ast.Set: "sets",
    }

    def _check_node(self, node: ast.AST) -> None:
        if not isinstance(node, self._NODES):
            what = self._REFUSED_WORDS.get(type(node), type(node).__name__)
            raise Refused(f"{what} are not allowed in an expression here")
        if isinstance(node, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
            raise Refused("'is' and 'in' are not allowed; compare with ==, <, ...")
        if isinstance(node, (ast.LShift, ast.RShift)):
            raise Refused("<< and >> are not allowed; use torch.bitwise_left_shift")
        if isinstance(node, ast.Name):
            if node.id not in self.scope:
                raise Refused(f"the name {node.id!r} is not allowed; names here: {', '.join(self.scope)}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise Refused(f"attributes that start with '_' are not allowed (.{node.attr})")
            if node.attr not in self.attribute_names:
                raise Refused(f".{node.attr} is not on the allow-list of torch functions and tensor methods")
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str) and len(value) > MAX_STR:
                raise Refused(f"strings are limited to {MAX_STR} characters")
            if isinstance(value, bytes):
                raise Refused("bytes are not allowed")
        elif isinstance(node, ast.keyword):
            if node.arg is None:
                raise Refused("** unpacking is not allowed")
            if node.arg == "out" or node.arg.startswith("_"):
                raise Refused(f"the keyword {node.arg}= is not allowed")

    # -- evaluating --

    def evaluate(self, text: str) -> Any:
        """Check, then evaluate; raises Refused, TooLarge or ExpressionError with a clear message."""
        tree = self.parse(text)
        self.text = text.strip()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return self._eval(tree)
            except RecursionError:
                raise Refused("the expression is nested too deeply") from None
            finally:
                for w in caught:
                    message = f"{w.category.__name__}: {w.message}"
                    if message not in self.warnings:
                        self.warnings.append(message)

    def _segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def _eval(self, node: ast.AST) -> Any:
        method = getattr(self, "_eval_" + type(node).__name__)
        return method(node)

    def _eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _eval_Name(self, node: ast.Name) -> Any:
        value = self.scope[node.id]
        if callable(value) and not _is_tensor(value):
            raise Refused(f"{node.id} is a function: call it, e.g. {node.id}(...)")
        return value

    def _eval_Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self._eval(e) for e in node.elts)

    def _eval_List(self, node: ast.List) -> list:
        return [self._eval(e) for e in node.elts]

    def _eval_Slice(self, node: ast.Slice) -> slice:
        part = lambda n: None if n is None else self._eval(n)  # noqa: E731
        return slice(part(node.lower), part(node.upper), part(node.step))

    def _eval_IfExp(self, node: ast.IfExp) -> Any:
        test = self._eval(node.test)
        return self._eval(node.body) if self._bool(test, node.test) else self._eval(node.orelse)

    def _eval_BoolOp(self, node: ast.BoolOp) -> Any:
        value = None
        for i, part in enumerate(node.values):
            value = self._eval(part)
            truth = self._bool(value, part)
            last = i == len(node.values) - 1
            if not last and (truth if isinstance(node.op, ast.Or) else not truth):
                return value
        return value

    def _bool(self, value: Any, node: ast.AST) -> bool:
        try:
            return bool(value)
        except Exception as exc:
            raise ExpressionError(f"in `{self._segment(node)}`: {first_line(exc)}") from None

    def _eval_Attribute(self, node: ast.Attribute) -> Any:
        owner = self._eval(node.value)
        fn = self._lookup(owner, node.attr, node)
        if isinstance(fn, _Fn):
            raise Refused(f"{self._segment(node)} is a function: call it, e.g. {self._segment(node)}(...)")
        return fn

    def _lookup(self, owner: Any, attr: str, node: ast.AST) -> Any:
        """An allowed attribute of `owner`: a value, or a _Fn when it is a function."""
        where = self._segment(node)
        if isinstance(owner, Namespace):
            if attr in owner.spaces:
                return owner.spaces[attr]
            if attr in owner.values:
                return getattr(owner.module(), attr)
            if attr in owner.functions and hasattr(owner.module(), attr):
                return _Fn(attr, getattr(owner.module(), attr), namespace=owner)
            raise Refused(f"{where}: {owner.path}.{attr} is not on the allow-list")
        if _is_tensor(owner):
            if attr in _TENSOR_PROPERTIES:
                return getattr(owner, attr)
            if attr in self.methods and hasattr(owner, attr):
                return _Fn(attr, getattr(owner, attr), owner=owner)
            raise Refused(f"{where}: tensor.{attr} is not on the allow-list of tensor methods")
        import torch

        if isinstance(owner, torch.dtype) and attr in _OTHER_ATTRS["dtype"]:
            return getattr(owner, attr)
        if isinstance(owner, torch.device) and attr in _OTHER_ATTRS["device"]:
            return getattr(owner, attr)
        if isinstance(owner, torch.Size) and attr == "numel":
            return _Fn(attr, owner.numel)
        named = type(owner).__module__ == "torch.return_types" and hasattr(owner, attr)
        if named and not callable(getattr(owner, attr)):
            return getattr(owner, attr)  # named results: .values, .indices, .eigenvalues, ...
        raise Refused(f"{where}: .{attr} is not allowed on a {type(owner).__name__}")

    def _eval_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Attribute):
            fn = self._lookup(self._eval(node.func.value), node.func.attr, node.func)
        elif isinstance(node.func, ast.Name) and node.func.id in BUILTINS:
            fn = _Fn(node.func.id, BUILTINS[node.func.id])
        else:
            raise Refused(
                f"`{self._segment(node.func)}` cannot be called; call torch functions or tensor methods"
            )
        if not isinstance(fn, _Fn):
            raise Refused(f"`{self._segment(node.func)}` is not a function")
        args = [self._eval(a) for a in node.args]
        kwargs = {k.arg: self._eval(k.value) for k in node.keywords}
        return self._apply(fn, args, kwargs, node)

    def _eval_Subscript(self, node: ast.Subscript) -> Any:
        value = self._eval(node.value)
        index = self._eval(node.slice)
        if _is_tensor(value):
            return self._apply(_Fn("getitem", operator.getitem), [value, index], {}, node)
        try:
            return value[index]
        except Exception as exc:
            raise ExpressionError(f"in `{self._segment(node)}`: {first_line(exc)}") from None

    _BINOPS: ClassVar[dict[type, Any]] = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod,
        ast.Pow: operator.pow,
        ast.MatMult: operator.matmul,
        ast.BitAnd: operator.and_,
        ast.BitOr: operator.or_,
        ast.BitXor: operator.xor,
    }
    _UNARY: ClassVar[dict[type, Any]] = {
        ast.USub: operator.neg,
        ast.UAdd: operator.pos,
        ast.Invert: operator.invert,
        ast.Not: operator.not_,
    }
    _COMPARE: ClassVar[dict[type, Any]] = {
        ast.Eq: operator.eq,
        ast.NotEq: operator.ne,
        ast.Lt: operator.lt,
        ast.LtE: operator.le,
        ast.Gt: operator.gt,
        ast.GtE: operator.ge,
    }

    def _eval_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self._eval(node.left), self._eval(node.right)
        op = self._BINOPS[type(node.op)]
        return self._operate(op, [left, right], node)

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self._eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not self._bool(operand, node.operand)
        return self._operate(self._UNARY[type(node.op)], [operand], node)

    def _eval_Compare(self, node: ast.Compare) -> Any:
        left = self._eval(node.left)
        value: Any = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node)
            value = self._operate(self._COMPARE[type(op)], [left, right], node)
            if len(node.ops) > 1 and not self._bool(value, node):  # a < b < c stops at the first False
                return value
            left = right
        return value

    def _operate(self, op, operands: list[Any], node: ast.AST) -> Any:
        if any(_is_tensor(v) for v in operands):
            fn = _Fn(op.__name__.strip("_"), op)
            return self._apply(fn, operands, {}, node, elementwise=op is not operator.matmul)
        _check_python(op, operands, self._segment(node))
        if op in (operator.mul, operator.add) and any(isinstance(v, (list, tuple, str)) for v in operands):
            # a list made by * or + is memory like a tensor's: 8 bytes a slot (1 a character)
            n = _sequence_items(op, operands)
            self._charge(n if any(isinstance(v, str) for v in operands) else 8 * n, self._segment(node),
                         "would make a Python sequence of", None)  # fmt: skip
        try:
            return op(*operands)
        except Exception as exc:
            raise ExpressionError(f"in `{self._segment(node)}`: {first_line(exc)}") from None

    # -- the guarded call --

    def _apply(
        self, fn: _Fn, args: list[Any], kwargs: dict[str, Any], node: ast.AST, elementwise=None
    ) -> Any:
        text = self._segment(node)
        if fn.name == "tolist" and fn.owner is not None:
            if fn.owner.numel() > MAX_SEQUENCE:
                raise TooLarge(f"`{text}`: .tolist() is limited to {MAX_SEQUENCE:,} numbers")
            self._charge(python_list_bytes(tuple(fn.owner.shape)), text, "would make Python objects of", None)
        elementwise = fn.name in _ELEMENTWISE if elementwise is None else elementwise
        builtin = fn.owner is None and fn.namespace is None and fn.name in BUILTINS
        from_list = fn.name in ("tensor", "as_tensor", "new_tensor") and args
        # A nested list for torch.tensor can hold 10 million numbers: it is sized, not walked.
        walked = [fn.owner, *kwargs.values()] if from_list else [fn.owner, *args, *kwargs.values()]
        inputs = [v for v in _flatten(walked) if _is_tensor(v)]
        if fn.name not in _VIEWS:
            self._check_work(fn, inputs, text)
        if fn.name in _LAPACK and (fn.namespace is None or fn.namespace.path != "torch.nn.functional"):
            _check_finite(fn, inputs, text)
        charge_after = False
        data_dependent = fn.name in _BOUNDED_BY_INPUT and fn.name != "getitem" and inputs
        if data_dependent and not (fn.name == "where" and len(args) + len(kwargs) >= 3):
            # Its size depends on the values: charge the worst case before it runs (a meta run
            # cannot know it, and the cheap bound below undercounts many dimensions' indices).
            self._charge(_bound(fn.name, inputs), text, "could need up to", None)
        elif from_list:
            # The size is in the nested list itself; no meta run (it would walk every number).
            n = _count_numbers(args[0])
            if n > MAX_LIST_NUMBERS:
                raise TooLarge(f"`{text}`: a list of {n:,} numbers; at most {MAX_LIST_NUMBERS:,} here")
            self._charge(16 * n, text, "would allocate", None)
        elif fn.name in _NO_META or (builtin and fn.name not in ("abs", "round")):
            pass  # makes no new tensor (backward's gradients are the size of the leaves)
        else:
            # Small inputs to an op whose result they bound: run it and count what it made.
            # The meta run is exact but its first use costs PyTorch ~1.5 s of imports.
            bound = _cheap_bound(fn.name, inputs, elementwise)
            if bound is not None and self.allocated + bound <= self.limit:
                charge_after = True
            else:
                self._precheck(fn, args, kwargs, text)
        try:
            result = fn.call(*args, **kwargs)
        except Exception as exc:
            raise ExpressionError(_explain(text, exc, args, kwargs)) from None
        if charge_after:
            self.allocated += _new_bytes(result, inputs)
        if builtin and isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise TooLarge(f"`{text}` is a whole number of more than {MAX_INT_BITS} bits")
        if fn.name in _UNINITIALIZED:
            _fill_uninitialized(result)
            note = (
                f"{fn.name} returns uninitialized memory; here it is filled with NaN (or the largest "
                "integer), as torch.use_deterministic_algorithms(True) does, so no leftover memory is shown"
            )
            if note not in self.warnings:
                self.warnings.append(note)
        if elementwise:
            self._note_broadcast(text, [*args, *kwargs.values()], result)
        return result

    def _check_work(self, fn: _Fn, inputs: list[Any], text: str) -> None:
        """Each tensor an op reads counts at its logical size: an expanded view is not free to read."""
        for t in inputs:
            logical = t.numel() * t.element_size()
            if logical > self.limit:
                raise TooLarge(
                    f"`{text}` would work over {_shape_words(tuple(t.shape), t.dtype)}, {_bytes(logical)} "
                    f"as a full tensor (an expanded or broadcast view is read element by element); "
                    f"the limit is {_bytes(self.limit)}, so it was refused before it ran"
                )

    def _precheck(self, fn: _Fn, args: list[Any], kwargs: dict[str, Any], text: str) -> None:
        """Run `fn` on meta tensors: the result's size, with nothing allocated."""
        import torch

        memo: dict[int, Any] = {}
        meta_args = [_to_meta(a, memo) for a in args]
        meta_kwargs = {k: ("meta" if k == "device" else _to_meta(v, memo)) for k, v in kwargs.items()}
        if fn.owner is not None:
            meta_self = _to_meta(fn.owner, memo)
            if fn.name in ("cpu", "cuda", "pin_memory"):  # a copy of the same size elsewhere
                call, meta_args, meta_kwargs = meta_self.clone, [], {}
            else:
                call = getattr(meta_self, fn.name)
                if fn.name == "to":
                    meta_args = ["meta" if _is_device(a) else a for a in meta_args]
        elif fn.namespace is not None:
            call = getattr(fn.namespace.module(), fn.name)
        else:
            call = fn.call
        inputs = [t for t in memo.values() if _is_tensor(t)]
        try:
            # The meta device as the default: factories (zeros, randn, ...) allocate nothing.
            with torch.device("meta"), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = call(*meta_args, **meta_kwargs)
        except Exception as exc:
            if "meta" not in str(exc).lower() and not isinstance(exc, NotImplementedError):
                return  # a genuine mistake (shapes, types): the real call fails the same way, at once
            if fn.name in _BOUNDED_BY_INPUT and inputs:
                self._charge(_bound(fn.name, inputs), text, "could need up to", None)
                return
            raise Refused(
                f"`{text}`: the size of what {fn.name} returns depends on the values, so it "
                f"cannot be checked against the {_bytes(self.limit)} limit before it runs"
            ) from None
        seen = {_storage_key(t) for t in inputs}  # a view of an input allocates nothing new
        new, first = 0, None
        for t in _flatten([out]):
            if _is_tensor(t) and _storage_key(t) not in seen:
                seen.add(_storage_key(t))
                new += t.untyped_storage().nbytes()
                first = first or (tuple(t.shape), t.dtype)
        self._charge(new, text, "would allocate", first)

    def _charge(self, new: int, text: str, verb: str, shape) -> None:
        if self.allocated + new > self.limit:
            what = f" ({_shape_words(*shape)})" if shape else ""
            already = f", on top of {_bytes(self.allocated)} already made" if self.allocated else ""
            raise TooLarge(
                f"`{text}` {verb} {_bytes(new)}{what}{already}; the limit is {_bytes(self.limit)}, "
                "so it was refused before anything was allocated"
            )
        self.allocated += new

    def _note_broadcast(self, text: str, operands: list[Any], result: Any) -> None:
        shapes = [tuple(v.shape) for v in operands if _is_tensor(v)]
        if len(shapes) >= 2 and len(set(shapes)) > 1 and _is_tensor(result):
            out = tuple(result.shape)
            if any(s != out for s in shapes) and len(out) >= max(len(s) for s in shapes):
                self.broadcasts.append(Broadcast(text, shapes, out))


# --- helpers -----------------------------------------------------------------------------


def python_list_bytes(shape: tuple[int, ...]) -> int:
    """What `.tolist()` of a tensor of `shape` makes in Python objects, in bytes (an estimate
    from CPython's sizes: a list object per row at every level, an object and a slot per number).
    A (1000000, 1, 1, ...) tensor makes a million lists per level: 40 levels took 3.4 GB."""
    lists, rows = 1, 1
    for d in shape[:-1]:
        rows *= d
        lists += rows
    return lists * PY_LIST_BYTES + _prod(shape) * PY_OBJECT_BYTES + PY_LIST_BYTES


def _check_finite(fn: _Fn, inputs: list[Any], text: str) -> None:
    """Refuse NaN/inf input to a LAPACK/MKL routine: some crash the process on it instead of raising."""
    import torch

    for t in inputs:
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise Refused(
                f"`{text}`: {fn.name} was given NaN or infinite values; LAPACK/MKL routines can crash "
                "the process on them (not raise an error), so they are refused. Clean the input first, "
                "e.g. torch.nan_to_num(x)"
            )


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _is_device(value: Any) -> bool:
    import torch

    if isinstance(value, torch.device):
        return True
    if isinstance(value, str):
        try:
            torch.device(value)
            return True
        except (RuntimeError, ValueError):
            return False
    return False


def _storage_key(t) -> int:
    return t.untyped_storage()._cdata


def _to_meta(value: Any, memo: dict[int, Any]) -> Any:
    if _is_tensor(value):
        if id(value) not in memo:
            memo[id(value)] = value.detach().to("meta")
        return memo[id(value)]
    if isinstance(value, list):
        return [_to_meta(v, memo) for v in value]
    if type(value) is tuple:
        return tuple(_to_meta(v, memo) for v in value)
    if isinstance(value, slice):
        return slice(*(_to_meta(v, memo) for v in (value.start, value.stop, value.step)))
    return value


def _fill_uninitialized(t) -> None:
    """What torch.utils.deterministic.fill_uninitialized_memory puts there: NaN or the max int."""
    import torch

    with torch.no_grad():
        if t.is_floating_point() or t.is_complex():
            t.fill_(float("nan"))
        elif t.dtype == torch.bool:
            t.fill_(True)
        else:
            t.fill_(torch.iinfo(t.dtype).max)


def _cheap_bound(name: str, inputs: list[Any], elementwise: bool) -> int | None:
    """At most how many bytes `name` makes from these inputs, when that is easy to know."""
    if elementwise:
        shape = _broadcast([tuple(t.shape) for t in inputs])
        return 0 if shape is None else 16 * _prod(shape)  # shapes that clash fail before allocating
    if name in _BOUNDED_BY_INPUT_SIZE and inputs:
        return 16 * sum(t.numel() for t in inputs)
    return None


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    """numpy's broadcasting rule; None when the shapes do not broadcast."""
    out: list[int] = []
    for dims in zip(*(((1,) * (max(map(len, shapes), default=0) - len(s)) + s) for s in shapes), strict=True):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _new_bytes(result: Any, inputs: list[Any]) -> int:
    seen = {_storage_key(t) for t in inputs}
    total = 0
    for t in _flatten([result]):
        if _is_tensor(t) and _storage_key(t) not in seen:
            seen.add(_storage_key(t))
            total += t.untyped_storage().nbytes()
    return total


def _bound(name: str, inputs: list[Any]) -> int:
    """The most bytes a value-dependent op can return, from its inputs' sizes."""
    n = max(t.numel() for t in inputs)
    ndim = max(max(t.dim(), 1) for t in inputs)
    size = max(t.element_size() for t in inputs)
    if name in ("unique", "unique_consecutive"):
        return n * (size + 16)  # values, inverse indices, counts
    if name in ("masked_select", "getitem"):
        return n * (size + 8 * ndim)  # the result, and the indices PyTorch finds on the way
    return n * 8 * ndim  # nonzero, argwhere, where(cond): one int64 index per dimension


def _flatten(values: list[Any], budget: int = MAX_SEQUENCE) -> list[Any]:
    """Everything inside nested lists/tuples, walking at most `budget` items."""
    out, stack, walked = [], list(reversed(values)), 0
    while stack:
        v = stack.pop()
        walked += 1
        if walked > budget:
            raise TooLarge(
                f"arguments with more than {budget:,} items in Python lists; make large tensors "
                "with torch functions (torch.zeros, torch.arange, ...) or pass the list to torch.tensor"
            )
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif v is not None:
            out.append(v)
    return out


def _count_numbers(value: Any) -> int:
    """Numbers in a nested list, counted along the first element of each level (no full walk)."""
    n = 1
    while isinstance(value, (list, tuple)):
        n *= len(value)
        if not value:
            return 0
        value = value[0]
    return n


def _sequence_items(op, operands: list[Any]) -> int:
    """Items in the list, tuple or str that `a * n` or `a + b` makes (checked by _check_python first)."""
    if op is operator.add:
        return sum(len(v) for v in operands if isinstance(v, (list, tuple, str)))
    a, b = operands
    seq, n = (a, b) if isinstance(a, (list, tuple, str)) else (b, a)
    return len(seq) * max(n, 0) if isinstance(n, int) else len(seq)


def _nested_items(seq: Any, budget: int = MAX_SEQUENCE) -> int:
    """Items of a list/tuple/str counting every level: [[0] * 10**5] * 10**5 holds one inner list
    10**5 times, but its repr and torch.tensor walk 10**10 numbers. Shared inner lists count once
    per reference, as those walks see them. Stops past `budget`: then budget + 1 (a lower bound)."""
    if isinstance(seq, str):
        return len(seq)
    count, stack = 0, list(seq)
    while stack:
        if count > budget:
            return budget + 1
        v = stack.pop()
        if isinstance(v, (list, tuple)) and v:
            stack.extend(v)
        else:
            count += 1
    return count


def _too_many(text: str, items: int) -> TooLarge:
    many = f"more than {MAX_SEQUENCE:,}" if items == MAX_SEQUENCE + 1 else f"{items:,}"
    return TooLarge(
        f"`{text}` would make {many} items, counting those inside nested lists; at most {MAX_SEQUENCE:,}"
    )


def _check_python(op, operands: list[Any], text: str) -> None:
    """Python ints and sequences grow without bound (2 ** 10 ** 9, [0] * 10 ** 10): check first."""
    if len(operands) != 2:
        return
    a, b = operands
    sequences = (list, tuple, str)
    if op is operator.mul:
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, sequences) and isinstance(n, int) and not isinstance(n, bool):
                each = _nested_items(seq)
                if each * max(n, 0) > MAX_SEQUENCE:
                    raise _too_many(text, each * n if each <= MAX_SEQUENCE else MAX_SEQUENCE + 1)
    grows = op is operator.add and isinstance(a, sequences) and isinstance(b, type(a))
    if grows and (items := _nested_items(a) + _nested_items(b)) > MAX_SEQUENCE:
        raise _too_many(text, min(items, MAX_SEQUENCE + 1))
    if op is operator.mod and isinstance(a, str):
        raise Refused("% formatting of strings is not allowed")
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in operands)
    if not ints:
        return
    if op is operator.pow and b > 0 and abs(a) > 1 and a.bit_length() * b > MAX_INT_BITS:
        raise TooLarge(f"`{text}` is a whole number of more than {MAX_INT_BITS} bits")
    if op is operator.mul and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise TooLarge(f"`{text}` is a whole number of more than {MAX_INT_BITS} bits")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _explain(text: str, exc: BaseException, args: list[Any], kwargs: dict[str, Any]) -> str:
    """The error with the shapes involved, e.g. for a broadcast that fails."""
    try:
        shapes = [
            _shape_words(tuple(v.shape), v.dtype)
            for v in _flatten([*args, *kwargs.values()])
            if _is_tensor(v)
        ]
    except TooLarge:
        shapes = []
    with_shapes = f" (tensors: {'; '.join(shapes)})" if shapes else ""
    kind = "" if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: "
    return f"in `{text}`{with_shapes}: {kind}{first_line(exc)}"


def _shape_words(shape: tuple[int, ...], dtype) -> str:
    return f"shape {numbers.shape(shape)} {str(dtype).replace('torch.', '')}"


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


human_bytes = _bytes


class Checker:
    """The Evaluator's checks without the Evaluator: parse and allow-list only, no torch.

    Building an Evaluator imports torch (its tensor-method list reads torch.Tensor); the app
    process checks expressions as they are typed with this instead. It is a little looser
    (a method name is judged against every allowed attribute name): the run stays the
    authority. `check_text` raises Refused with the Evaluator's own words.
    """

    parse = Evaluator.parse
    check = Evaluator.check
    _check_node = Evaluator._check_node
    _NODES = Evaluator._NODES
    _REFUSED_WORDS = Evaluator._REFUSED_WORDS

    def __init__(self, names: tuple[str, ...] | list[str] = ()):
        self.scope = {**dict.fromkeys(names), **NAMESPACES, **BUILTINS}
        self.attribute_names = _all_attribute_names()

    def check_text(self, text: str) -> None:
        self.parse(text)
