#include "sampling/export.h"

#include <torch/torch.h>

#include <stdexcept>

#include "core/fs.h"
#include "invdiff/guidance.h"
#include "model/unet_diffusers.h"

namespace invdiff {

namespace {
std::string guided_readme(const std::string& mix, double r, bool class_cond) {
  const std::string y = class_cond ? ", class_labels=y" : "";
  const std::string step = mix == "additive" ? "eps = eps + r * g(x, t" + y + ").sample"
                                             : "eps = (1 - r) * eps + r * g(x, t" + y + ").sample";
  return "# A debiased model from invdiff\n\n"
         "`base/` is the frozen pre-trained model, `guidance/` the guidance network G_psi trained by\n"
         "invdiff, `guidance.json` how the two mix (" + mix + ", r = " + std::to_string(r) + "). The guided\n"
         "noise prediction is two lines on top of the usual loop:\n\n"
         "```python\n"
         "import torch\n"
         "from diffusers import UNet2DModel, DDPMScheduler\n\n"
         "base = UNet2DModel.from_pretrained(\"base\").eval()\n"
         "g = UNet2DModel.from_pretrained(\"guidance\").eval()\n"
         "sched = DDPMScheduler.from_pretrained(\"base\")\n"
         "r = " + std::to_string(r) + "\n" +
         (class_cond ? "y = torch.tensor([0, 1, 2, 3])  # class indices (class_names.json)\n" : "") +
         "x = torch.randn(" + std::string(class_cond ? "len(y)" : "4") + ", base.config.in_channels, base.config.sample_size, base.config.sample_size)\n"
         "sched.set_timesteps(1000)\n"
         "with torch.no_grad():\n"
         "    for t in sched.timesteps:\n"
         "        eps = base(x, t" + y + ").sample\n"
         "        " + step + "\n"
         "        x = sched.step(eps, t, x).prev_sample\n"
         "```\n";
}

// guidance.json and README.md of a guided model's export (base/ and guidance/ written).
nlohmann::json write_guided_mix(const AnyModel& m, const std::string& out, const std::string& variant, MixMode mix_mode,
                                bool class_cond) {
  const std::string mix = enum_name(mix_mode);
  nlohmann::json mj{{"format", "invdiff guided model"},
                    {"base", "base"},
                    {"guidance", "guidance"},
                    {"variant", variant},
                    {"mix", mix},
                    {"ratio", m.guidance_ratio},
                    {"eps", mix == "additive" ? "eps_base + r * G" : "(1 - r) * eps_base + r * G"},
                    {"source", m.path}};
  atomic_write_text(join_path(out, "guidance.json"), mj.dump(2) + "\n");
  atomic_write_text(join_path(out, "README.md"), guided_readme(mix, m.guidance_ratio, class_cond));
  return {{"base", absolute_path(join_path(out, "base"))}, {"guidance", absolute_path(join_path(out, "guidance"))},
          {"mix", mj}};
}

// A model on invdiff's own UNet: the same network as a UNet2DModel (model/unet_diffusers.h), its
// schedule as a DDPMScheduler config, the null class marked in class_names.json.
nlohmann::json export_invdiff(const AnyModel& m, const std::string& out) {
  const auto sched = diffusers_scheduler_of(m.schedule());
  const auto& names = m.class_names();
  if (m.kind == ModelKind::Diffusion) {
    auto d = to_diffusers_unet(*m.base.unet);
    save_diffusers_model(out, *d, sched, names, /*null_class=*/true);
    return {{"model", absolute_path(out)}};
  }
  const auto& gm = *m.guided;
  auto base = to_diffusers_unet(*gm.base);
  save_diffusers_model(join_path(out, "base"), *base, sched, names, true);
  auto g = to_diffusers_unet(*gm.g->net);  // lora: the adapters merged into the copy's weights
  save_diffusers_model(join_path(out, "guidance"), *g, sched, names, true);
  // lora's G is (adapted copy - base) under the additive mix: eps_base + r (A - eps_base) is the
  // convex mix of the adapted copy A, which is what guidance/ holds.
  const bool lora = gm.cfg.variant == GuidanceVariant::Lora;
  return write_guided_mix(m, out, lora ? "lora (merged)" : enum_name(gm.cfg.variant), lora ? MixMode::Convex : gm.cfg.mix,
                          true);
}
}  // namespace

nlohmann::json export_diffusers(const AnyModel& m, const std::string& out) {
  ensure_dir(out);
  if (!m.imported) return export_invdiff(m, out);
  const auto& imp = *m.imported;
  const bool named = !imp.folder.class_names_file.empty();
  const std::vector<std::string> names = named ? imp.class_names : std::vector<std::string>{};
  const bool null_class = imp.null_class >= 0;
  if (m.kind == ModelKind::Diffusers) {
    save_diffusers_model(out, *imp.net.ptr(), imp.scheduler, names, null_class);
    return {{"model", absolute_path(out)}};
  }
  // guided over a diffusers base
  const auto& g = m.guided->g;
  save_diffusers_model(join_path(out, "base"), *imp.net.ptr(), imp.scheduler, names, null_class);
  save_diffusers_model(join_path(out, "guidance"), *g->dnet.ptr(), imp.scheduler, names, null_class);
  return write_guided_mix(m, out, enum_name(m.guided->cfg.variant), m.guided->cfg.mix, imp.net->class_conditional());
}

}  // namespace invdiff
