export const config = {
  githubToken: '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',
  mongoUrl: 'mongodb+srv://svc:fE58Wcyjf6kK22hlAZth7cDc@cluster0.abcde.mongodb.net/prod',
  apiBase: process.env.API_BASE || 'https://api.example.com',
  apiKey: process.env.API_KEY,
  groqKey: "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",
  retries: 3,
};
const uuid = 'a074604e-a35b-de34-7f6a-48fe6a2a01f1';
const commit = '4322c9fa1d15aa97f29e5c936af9b69759e71787';
