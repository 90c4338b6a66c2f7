#include "sampling/export.h"

#include <torch/torch.h>

#include <stdexcept>

#include "core/fs.h"
#include "invdiff/guidance.h"

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

void refuse_invdiff_unet(const AnyModel& m) {
  throw std::invalid_argument(m.path + ": built on invdiff's own UNet, which does not map onto diffusers' UNet2DModel "
                              "(other block layout, time embedding and parameter names); export takes models whose "
                              "base is a diffusers folder (import it with -m DIR, debias it, export the result)");
}
}  // namespace

nlohmann::json export_diffusers(const AnyModel& m, const std::string& out) {
  if (!m.imported) refuse_invdiff_unet(m);
  ensure_dir(out);
  const auto& imp = *m.imported;
  const bool named = !imp.folder.class_names_file.empty();
  const std::vector<std::string> names = named ? imp.class_names : std::vector<std::string>{};
  if (m.kind == ModelKind::Diffusers) {
    save_diffusers_model(out, *imp.net.ptr(), imp.scheduler, names);
    return {{"model", absolute_path(out)}};
  }
  // guided over a diffusers base
  const auto& g = m.guided->g;
  if (!g->dnet) refuse_invdiff_unet(m);
  const std::string base_dir = join_path(out, "base"), g_dir = join_path(out, "guidance");
  save_diffusers_model(base_dir, *imp.net.ptr(), imp.scheduler, names);
  save_diffusers_model(g_dir, *g->dnet.ptr(), imp.scheduler, names);
  const std::string mix = enum_name(m.guided->cfg.mix);
  nlohmann::json mj{{"format", "invdiff guided model"},
                    {"base", "base"},
                    {"guidance", "guidance"},
                    {"variant", enum_name(m.guided->cfg.variant)},
                    {"mix", mix},
                    {"ratio", m.guidance_ratio},
                    {"eps", mix == "additive" ? "eps_base + r * G" : "(1 - r) * eps_base + r * G"},
                    {"source", m.path}};
  atomic_write_text(join_path(out, "guidance.json"), mj.dump(2) + "\n");
  atomic_write_text(join_path(out, "README.md"), guided_readme(mix, m.guidance_ratio, imp.net->class_conditional()));
  return {{"base", absolute_path(base_dir)}, {"guidance", absolute_path(g_dir)}, {"mix", mj}};
}

}  // namespace invdiff
