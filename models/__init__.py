"""Learned models, registered by name.

``MODELS`` maps a method name to an object following
:class:`generators.task.Method`. Each loads its shipped checkpoint from
``models/checkpoints/`` on first use (model cards sit next to them), so
building the registry is cheap and never touches the network.
"""

from models.decaption_nets import AutoencoderMethod, GatedUNetMethod
from models.deepset import DeepSetMethod
from models.desnow_nets import DesnowNetMethod
from models.fingerprint_nets import ResidualCNNMethod, UNetMethod
from models.layout_nets import LayoutNetMethod
from models.reflection_nets import ReflectionStudentMethod, ReflectionTeacherMethod
from models.refnet import RefNetMethod

__all__ = ["MODELS"]

MODELS = {
    m.name: m
    for m in (
        DeepSetMethod(),
        ResidualCNNMethod(),
        UNetMethod(),
        ReflectionTeacherMethod(),
        ReflectionStudentMethod(),
        ReflectionStudentMethod("reflection-student-gt-only", "reflection_student_gt_only.pt"),
        AutoencoderMethod(),
        GatedUNetMethod(),
        LayoutNetMethod(),
        DesnowNetMethod(),
        RefNetMethod(),
        RefNetMethod("refnet-perturbed", "refnet_perturbed.pt"),
    )
}
